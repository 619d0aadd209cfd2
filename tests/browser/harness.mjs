// Helpers of the browser tests: the real siftd on a free loopback port
// with a temporary data directory, events made from the Loghub files in
// tests/data, and Debian's chromium driven by playwright-core (never a
// downloaded browser), with a fresh profile per run.

import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const SOURCE_DIR = process.env.SIFT_SOURCE_DIR || path.resolve(here, "..", "..");
export const SIFTD = process.env.SIFTD || path.join(SOURCE_DIR, "build", "siftd");
export const CHROMIUM = process.env.SIFT_CHROMIUM || "/usr/bin/chromium";

/** Polls fn (sync or async) until it returns a truthy value; bounded. */
export async function waitFor(fn, what, timeoutMs = 15000, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
}

export class Siftd {
  constructor(name, args = []) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `sift-ui-${name}-`));
    this.dataDir = path.join(this.dir, "data");
    this.args = args;
    this.proc = null;
    this.url = null;
  }

  async start() {
    const out = fs.openSync(path.join(this.dir, "siftd.out"), "w");
    const err = fs.openSync(path.join(this.dir, "siftd.err"), "w");
    const env = { ...process.env };
    for (const k of ["JOURNAL_STREAM", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]) delete env[k];
    this.proc = spawn(SIFTD, ["--listen", "127.0.0.1:0", "--data-dir", this.dataDir, ...this.args], {
      stdio: ["ignore", out, err], env, cwd: this.dir,
    });
    fs.closeSync(out);
    fs.closeSync(err);
    let exited = null;
    this.proc.on("exit", (code, sig) => (exited = sig || code));
    const addrFile = path.join(this.dataDir, "siftd.addr");
    const addr = await waitFor(() => {
      if (exited !== null) throw new Error(`siftd exited (${exited}):\n${this.stderr()}`);
      return fs.existsSync(addrFile) && fs.readFileSync(addrFile, "utf8").trim();
    }, "siftd to listen", 30000);
    this.url = `http://${addr}`;
    await waitFor(async () => (await fetch(this.url + "/readyz")).status === 200, "siftd to be ready", 30000);
    return this;
  }

  stderr() {
    try {
      return fs.readFileSync(path.join(this.dir, "siftd.err"), "utf8");
    } catch {
      return "";
    }
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      const done = new Promise((r) => this.proc.once("exit", r));
      this.proc.kill("SIGTERM");
      const t = setTimeout(() => this.proc.kill("SIGKILL"), 20000);
      await done;
      clearTimeout(t);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  async request(method, p, { token, body, type } = {}) {
    const headers = {};
    if (token) headers.Authorization = "Bearer " + token;
    if (body !== undefined) headers["Content-Type"] = type || "application/json";
    const r = await fetch(this.url + p, { method, headers, body });
    const text = await r.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: r.status, json, text };
  }

  async get(p, token) {
    const r = await this.request("GET", p, { token });
    if (r.status !== 200) throw new Error(`GET ${p}: ${r.status} ${r.text}`);
    return r.json;
  }

  async ingest(events, token) {
    const body = events.map((e) => JSON.stringify(e)).join("\n") + "\n";
    const r = await this.request("POST", "/api/v1/ingest", { token, body, type: "application/x-ndjson" });
    if (r.status !== 200 || r.json.accepted !== events.length)
      throw new Error(`ingest: ${r.status} ${r.text}`);
  }

  /** Total of a query (exact). */
  async count(q, from, to, token) {
    const p = new URLSearchParams({ q, limit: "0", track_total_hits: "true" });
    if (from) p.set("from", from);
    if (to) p.set("to", to);
    return (await this.get("/api/v1/search?" + p, token)).total.value;
  }

  async waitCount(q, n, token) {
    return waitFor(async () => (await this.count(q, "", "", token)) >= n, `${n} events of ${q} searchable`);
  }
}

// ---- data ----

const SYSTEMS = [
  ["OpenSSH", "sshd", "LabSZ", "/var/log/auth.log"],
  ["Apache", "httpd", "web-1", "/var/log/httpd/error_log"],
  ["HDFS", "hdfs", "dn-3", "/var/log/hadoop/hdfs.log"],
  ["Zookeeper", "zookeeper", "zk-1", "/var/log/zookeeper/zookeeper.log"],
];

function levelOf(line) {
  const m = /\b(error|ERROR|fatal|FATAL|warn|WARN|WARNING|INFO|info|notice|failed|Failed)\b/.exec(line);
  if (!m) return "info";
  const w = m[1].toLowerCase();
  return { failed: "warn", notice: "info", fatal: "error", warning: "warn" }[w] || w;
}

/**
 * Lines of four Loghub systems as ECS events, spread over the span that
 * ends at endMs (one second apart per system, in file order).
 */
export function loghubEvents(endMs, perSystem, spanMs) {
  const out = [];
  for (const [name, service, host, file] of SYSTEMS) {
    const text = fs.readFileSync(path.join(SOURCE_DIR, "tests", "data", "loghub-2k", name, `${name}_2k.log`), "utf8");
    const lines = text.split("\n").filter((l) => l.trim() !== "").slice(0, perSystem);
    lines.forEach((line, i) => {
      out.push({
        "@timestamp": endMs - spanMs + Math.floor((i * spanMs) / lines.length) + SYSTEMS.findIndex((s) => s[0] === name),
        message: line,
        "log.level": levelOf(line),
        "service.name": service,
        "host.name": host,
        "log.file.path": file,
      });
    });
  }
  return out.sort((a, b) => a["@timestamp"] - b["@timestamp"]);
}

/**
 * The incident of tests/blackbox/test_anomaly.py: steady checkout traffic
 * in 1 s windows, a burst of payment errors in window 8, calm after, so
 * an error_ratio alert fires and resolves.  Windows follow arrival time,
 * so siftd's clock is stopped in each window before its events go in (the
 * debug clock endpoint), then let run again.
 */
export async function ingestIncident(s, t0Ms, token) {
  const clock = async (body) => {
    const r = await s.request("POST", "/api/v1/debug/clock", { token, body: JSON.stringify(body) });
    if (r.status !== 200) throw new Error(`debug clock: ${r.status} ${r.text}`);
  };
  const windows = incidentWindows(t0Ms);
  for (let w = 0; w < windows.length; w++) {
    await clock({ freeze_ms: t0Ms + w * 1000 + 900 });
    await s.ingest(windows[w], token);
  }
  await clock({ offset_ms: 0 });
}

export function incidentWindows(t0Ms) {
  const windows = [];
  for (let w = 0; w < 13; w++) {
    const base = t0Ms + w * 1000;
    const evs = [];
    for (let i = 0; i < 10; i++)
      evs.push({ "@timestamp": base + i * 10, "service.name": "checkout", "log.level": "info",
                 message: `GET /api/cart/${1000 + i} 200 in ${10 + i} ms` });
    if (w === 8)
      for (let i = 0; i < 20; i++)
        evs.push({ "@timestamp": base + 500 + i, "service.name": "checkout", "log.level": "error",
                   message: `payment provider timeout after ${30000 + i} ms` });
    windows.push(evs);
  }
  return windows;
}

export const ANOMALY_ARGS = [
  "--set", "store.wal_sync=10ms", "--set", "store.refresh=100ms",
  "--set", "anomaly.window=1s", "--set", "anomaly.warmup_windows=3",
  "--set", "anomaly.hold_windows=1", "--set", "anomaly.resolve_windows=2",
  "--set", "anomaly.cooldown=0", "--set", "anomaly.idle_flush=1h",
  "--set", "server.debug_endpoints=true",
  // The Loghub lines are imported minutes after they happened: not scored
  // (else each of their templates is a new_pattern alert).
  "--set", "anomaly.max_lateness=1m",
];

// ---- browser ----

export async function launchBrowser(chromium) {
  if (!fs.existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} not found: install Debian's chromium (scripts/deps.sh --test)`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "sift-ui-chromium-"));
  // A fresh profile (user data dir) for every run; nothing is downloaded.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 860 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}
