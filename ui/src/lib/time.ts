// Time ranges as the API takes them: `from`/`to` are "now", "now-15m"
// (units s m h d w), RFC 3339, or epoch milliseconds.  Relative bounds stay
// relative in the URL, so a shared "last hour" link means the last hour
// when it is opened; absolute ones come from zooming or the picker.

export interface Range {
  from: string;
  to: string;
}

export const DEFAULT_RANGE: Range = { from: "now-15m", to: "now" };

const UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

export const QUICK_RANGES: Array<[string, string]> = [
  ["now-5m", "Last 5 minutes"],
  ["now-15m", "Last 15 minutes"],
  ["now-1h", "Last 1 hour"],
  ["now-4h", "Last 4 hours"],
  ["now-24h", "Last 24 hours"],
  ["now-7d", "Last 7 days"],
  ["now-30d", "Last 30 days"],
  ["now-365d", "Last 1 year"],
];

const RELATIVE = /^now(?:([+-])(\d+)([smhdw]))?$/;

/** Whether a bound is relative to now ("now", "now-15m"). */
export function isRelative(bound: string): boolean {
  return RELATIVE.test(bound.trim());
}

/** A bound in epoch ms, or null when it cannot be read. */
export function parseBound(bound: string, nowMs: number): number | null {
  const s = bound.trim();
  if (s === "") return null;
  const rel = RELATIVE.exec(s);
  if (rel) {
    if (!rel[1]) return nowMs;
    const n = Number(rel[2]) * UNIT_MS[rel[3]];
    return rel[1] === "-" ? nowMs - n : nowMs + n;
  }
  if (/^\d{1,16}$/.test(s)) return Number(s);
  // RFC 3339 only: a date, a time and a zone.
  if (!/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})$/.test(s)) return null;
  const ms = Date.parse(s.replace(" ", "T"));
  return Number.isFinite(ms) ? ms : null;
}

/** The range in epoch ms (from inclusive, to exclusive), or null. */
export function resolveRange(r: Range, nowMs: number): { fromMs: number; toMs: number } | null {
  const fromMs = parseBound(r.from, nowMs);
  const toMs = parseBound(r.to, nowMs);
  if (fromMs === null || toMs === null || fromMs >= toMs) return null;
  return { fromMs, toMs };
}

/** A range's validation error for the picker, or "" when it is fine. */
export function rangeError(r: Range, nowMs: number): string {
  if (parseBound(r.from, nowMs) === null) return `cannot read "${r.from}" (use now-15m, RFC 3339 or epoch ms)`;
  if (parseBound(r.to, nowMs) === null) return `cannot read "${r.to}" (use now, RFC 3339 or epoch ms)`;
  if (resolveRange(r, nowMs) === null) return "the start must be before the end";
  return "";
}

/** An absolute bound for the API and the URL (RFC 3339, ms). */
export function isoBound(ms: number): string {
  return new Date(ms).toISOString();
}

function durationText(ms: number): string {
  const units: Array<[number, string]> = [
    [31_536_000_000, "year"],
    [604_800_000, "week"],
    [86_400_000, "day"],
    [3_600_000, "hour"],
    [60_000, "minute"],
    [1000, "second"],
  ];
  for (const [u, name] of units) {
    if (ms >= u && ms % u === 0) {
      const n = ms / u;
      return `${n} ${name}${n === 1 ? "" : "s"}`;
    }
  }
  return `${ms} ms`;
}

/** Local wall-clock time with milliseconds: "2024-05-01 12:00:00.000". */
export function formatLocal(ms: number, withMs = true): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const base = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  return withMs ? `${base}.${p(d.getMilliseconds(), 3)}` : base;
}

/** What the picker button says: "Last 15 minutes" or "from → to". */
export function rangeLabel(r: Range, nowMs: number): string {
  if (r.to.trim() === "now") {
    const quick = QUICK_RANGES.find(([f]) => f === r.from.trim());
    if (quick) return quick[1];
    const m = RELATIVE.exec(r.from.trim());
    if (m && m[1] === "-") return `Last ${durationText(Number(m[2]) * UNIT_MS[m[3]])}`;
  }
  const show = (b: string) => {
    if (isRelative(b)) return b;
    const ms = parseBound(b, nowMs);
    return ms === null ? b : formatLocal(ms, false);
  };
  return `${show(r.from)} → ${show(r.to)}`;
}

/**
 * Zoom out (Kibana's "zoom out"): the range twice as long around the same
 * middle.  A range ending "now" keeps ending now and stays relative.
 */
export function zoomOut(r: Range, nowMs: number): Range {
  const res = resolveRange(r, nowMs);
  if (!res) return r;
  const span = res.toMs - res.fromMs;
  if (r.to.trim() === "now") {
    const m = RELATIVE.exec(r.from.trim());
    if (m && m[1] === "-") return { from: `now-${Number(m[2]) * 2}${m[3]}`, to: "now" };
    return { from: isoBound(res.fromMs - span), to: "now" };
  }
  let to = res.toMs + span / 2;
  let from = res.fromMs - span / 2;
  if (to > nowMs && res.toMs <= nowMs) {
    from -= to - nowMs;
    to = nowMs;
  }
  return { from: isoBound(Math.round(from)), to: isoBound(Math.round(to)) };
}

/** An absolute range from a zoom (drag on the histogram), at least 1 ms. */
export function zoomTo(fromMs: number, toMs: number): Range {
  const a = Math.floor(Math.min(fromMs, toMs));
  const b = Math.ceil(Math.max(fromMs, toMs));
  return { from: isoBound(a), to: isoBound(Math.max(b, a + 1)) };
}

/**
 * A histogram interval for the API that gives about `buckets` buckets over
 * span ms: a whole number of seconds (at least 1 s).
 */
export function intervalFor(spanMs: number, buckets: number): string {
  const s = Math.max(1, Math.ceil(spanMs / buckets / 1000));
  return `${s}s`;
}
