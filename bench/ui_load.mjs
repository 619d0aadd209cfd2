// How fast the web UI's first page is ready with many events stored:
// ingests N events (default 1,000,000 Loghub lines from tests/data spread
// over the last 24 hours) into a fresh siftd over HTTP, then loads /ui/ in
// headless chromium (Debian's, driven by playwright-core from
// tests/browser) and times each load from navigation until the hits and
// the histogram of the first search are drawn.  Run by bench/ui_load.sh.
//
// Loads: the default page (last 15 minutes) and the whole day, each cold
// (fresh browser profile: nothing cached) and warm (same profile: the
// hashed assets come from the cache, index.html is revalidated).  The time
// is the page's own: from the start of the navigation to the moment the
// hits, the histogram and the total of the first search are on screen.
import fs from "node:fs";
import path from "node:path";
import { Siftd, SOURCE_DIR, launchBrowser, waitFor } from "../tests/browser/harness.mjs";

const N = Number(process.env.UI_BENCH_EVENTS || 1_000_000);
const ROUNDS = Number(process.env.UI_BENCH_ROUNDS || 5);
const BATCH = 20_000;
const DAY = 86_400_000;
const { chromium } = await import(path.join(SOURCE_DIR, "tests/browser/node_modules/playwright-core/index.mjs"));

const SYSTEMS = ["Apache", "BGL", "HDFS", "HPC", "Hadoop", "Linux", "OpenSSH", "OpenStack", "Spark", "Zookeeper"];
const LEVELS = ["info", "info", "info", "info", "info", "warn", "error", "debug"];
const lines = SYSTEMS.map((s) =>
  fs.readFileSync(path.join(SOURCE_DIR, "tests/data/loghub-2k", s, `${s}_2k.log`), "utf8")
    .split("\n").filter((l) => l.trim() !== ""));

function median(v) {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const s = await new Siftd("bench", ["--set", "store.wal_sync=50ms"]).start();
try {
  const end = Date.now();
  const t0 = Date.now();
  for (let done = 0; done < N; done += BATCH) {
    const n = Math.min(BATCH, N - done);
    const body = [];
    for (let i = 0; i < n; i++) {
      const k = done + i;
      const sys = k % SYSTEMS.length;
      const l = lines[sys][Math.floor(k / SYSTEMS.length) % lines[sys].length];
      body.push(JSON.stringify({
        "@timestamp": end - DAY + Math.floor((k * DAY) / N), message: l, "log.level": LEVELS[k % LEVELS.length],
        "service.name": SYSTEMS[sys].toLowerCase(), "host.name": `node-${k % 7}`,
        "log.file.path": `/var/log/${SYSTEMS[sys].toLowerCase()}.log`,
      }));
    }
    const r = await s.request("POST", "/api/v1/ingest", { body: body.join("\n") + "\n", type: "application/x-ndjson" });
    if (r.status !== 200) throw new Error(`ingest: ${r.status} ${r.text}`);
  }
  await waitFor(async () => (await s.count("*")) >= N, `${N} events searchable`, 300_000, 500);
  console.log(`ingested ${N.toLocaleString("en-US")} events in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  // The page notes the moment it is ready itself (a MutationObserver
  // installed before any script runs), so the figure is time since the
  // navigation started, not when a poller happened to look.
  const marker = () => {
    const done = () => {
      const main = document.querySelector(".main[data-busy='0']");
      return main && document.querySelector(".hits .row") && document.querySelector(".chart canvas");
    };
    new MutationObserver((_m, obs) => {
      if (window.__siftReady === undefined && done()) {
        window.__siftReady = performance.now();
        obs.disconnect();
      }
    }).observe(document, { childList: true, subtree: true, attributes: true });
  };
  const ready = async (page) => {
    const h = await page.waitForFunction(() => window.__siftReady, null, { timeout: 60_000, polling: 50 });
    return Math.round(await h.jsonValue());
  };

  const verdicts = [];
  for (const [label, url] of [["default page (last 15 minutes)", "/ui/"], ["whole day (every event in range)", "/ui/?from=now-24h"]]) {
    const cold = [];
    const warm = [];
    for (let r = 0; r < ROUNDS; r++) {
      const b = await launchBrowser(chromium); // fresh profile: a cold cache
      const page = await b.context.newPage();
      await page.addInitScript(marker);
      await page.goto(s.url + url);
      cold.push(await ready(page));
      if (process.env.UI_BENCH_VERBOSE) {
        const tl = await page.evaluate(() => {
          const n = performance.getEntriesByType("navigation")[0];
          const res = performance.getEntriesByType("resource").map((e) =>
            `${e.name.replace(location.origin, "").slice(0, 40)} ${Math.round(e.startTime)}-${Math.round(e.responseEnd)}`);
          return { nav: `ttfb ${Math.round(n.responseStart)} dcl ${Math.round(n.domContentLoadedEventEnd)} load ${Math.round(n.loadEventEnd)}`, res, now: Math.round(performance.now()) };
        });
        console.log(JSON.stringify(tl));
      }
      await page.goto(s.url + url + (url.includes("?") ? "&" : "?") + "x=1");
      warm.push(await ready(page));
      if (r === 0 && label.startsWith("whole")) {
        const total = await page.getAttribute(".total", "data-total");
        console.log(`  (the whole-day page shows ${Number(total).toLocaleString("en-US")} events)`);
      }
      await b.close();
    }
    console.log(`${label}: cold median ${median(cold)} ms (${cold.join(", ")}), ` +
                `warm median ${median(warm)} ms (${warm.join(", ")})`);
    verdicts.push(Math.max(median(cold), median(warm)) < 1000);
  }
  const met = verdicts.every(Boolean);
  console.log(`target: ready in under 1000 ms with ${N.toLocaleString("en-US")} events stored: ${met ? "met" : "NOT met"}`);
  process.exitCode = met ? 0 : 1;
} finally {
  await s.stop();
}
