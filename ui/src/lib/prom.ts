// The Prometheus text format (what GET /metrics serves), read into samples
// for the status view.

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export type Metrics = Map<string, Sample[]>;

function parseValue(s: string): number {
  if (s === "+Inf") return Infinity;
  if (s === "-Inf") return -Infinity;
  if (s === "NaN") return NaN;
  return Number(s);
}

/** Reads a scrape; malformed lines are skipped. */
export function parseMetrics(text: string): Metrics {
  const out: Metrics = new Map();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{)?/.exec(line);
    if (!m) continue;
    const name = m[1];
    let i = m[0].length;
    const labels: Record<string, string> = {};
    if (m[2]) {
      let ok = false;
      while (i < line.length) {
        while (line[i] === " " || line[i] === ",") i++;
        if (line[i] === "}") {
          i++;
          ok = true;
          break;
        }
        const k = /^([A-Za-z_][A-Za-z0-9_]*)="/.exec(line.slice(i));
        if (!k) break;
        i += k[0].length;
        let v = "";
        while (i < line.length && line[i] !== '"') {
          if (line[i] === "\\" && i + 1 < line.length) {
            const e = line[i + 1];
            v += e === "n" ? "\n" : e;
            i += 2;
          } else {
            v += line[i++];
          }
        }
        i++; // closing quote
        labels[k[1]] = v;
      }
      if (!ok) continue;
    }
    const rest = line.slice(i).trim().split(/\s+/);
    if (rest.length < 1 || rest[0] === "") continue;
    const value = parseValue(rest[0]);
    if (Number.isNaN(value) && rest[0] !== "NaN") continue;
    let list = out.get(name);
    if (!list) out.set(name, (list = []));
    list.push({ labels, value });
  }
  return out;
}

/** The samples of a metric (none: empty). */
export function samples(m: Metrics, name: string): Sample[] {
  return m.get(name) || [];
}

/** The sum of a metric's samples, optionally those with label = value. */
export function total(m: Metrics, name: string, label?: string, value?: string): number {
  let n = 0;
  for (const s of samples(m, name)) if (!label || s.labels[label] === value) n += s.value;
  return n;
}

/**
 * Per-second rates of a counter by one label between two scrapes taken
 * dt ms apart (a counter that went down restarted: its new value is the
 * increase).
 */
export function ratesBy(prev: Metrics, cur: Metrics, name: string, label: string,
                        dtMs: number): Map<string, number> {
  const before = new Map<string, number>();
  for (const s of samples(prev, name)) {
    const k = s.labels[label] ?? "";
    before.set(k, (before.get(k) || 0) + s.value);
  }
  const now = new Map<string, number>();
  for (const s of samples(cur, name)) {
    const k = s.labels[label] ?? "";
    now.set(k, (now.get(k) || 0) + s.value);
  }
  const out = new Map<string, number>();
  if (dtMs <= 0) return out;
  for (const [k, v] of now) {
    const b = before.get(k);
    if (b === undefined) continue;
    const inc = v >= b ? v - b : v;
    out.set(k, (inc * 1000) / dtMs);
  }
  return out;
}
