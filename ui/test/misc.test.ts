import assert from "node:assert/strict";
import { test } from "node:test";
import { alertWindow } from "../src/lib/alerts";
import { clusterRows } from "../src/lib/cluster";
import { fmtBytes, fmtDuration } from "../src/lib/format";
import { levelGroup, stackByLevel } from "../src/lib/levels";
import { LineSplitter, NewestFirst, parseTailLine } from "../src/lib/ndjson";
import { parseMetrics, ratesBy, total } from "../src/lib/prom";
import { HISTORY_MAX, pushHistory } from "../src/lib/storage";
import type { Alert } from "../src/lib/types";
import { DEFAULT_STATE, parseUrl, sameState, toSearch } from "../src/lib/urlstate";

test("URL state round-trips and has defaults", () => {
  const s = { ...DEFAULT_STATE, q: 'level:error "disk full"', from: "now-1h", view: "patterns" as const, ctx: "AQx" };
  const back = parseUrl(toSearch(s));
  assert.ok(sameState(s, back));
  assert.match(toSearch(s), /^\?q=.*&from=now-1h&to=now&view=patterns&ctx=AQx$/);
  assert.deepEqual(parseUrl(""), DEFAULT_STATE);
  assert.equal(parseUrl("?view=nope").view, "discover");
});

test("history: newest first, no repeats, no blanks, bounded", () => {
  let h: string[] = [];
  h = pushHistory(h, "a");
  h = pushHistory(h, "b");
  h = pushHistory(h, "a");
  h = pushHistory(h, "  ");
  assert.deepEqual(h, ["a", "b"]);
  for (let i = 0; i < 100; i++) h = pushHistory(h, "q" + i);
  assert.equal(h.length, HISTORY_MAX);
  assert.equal(h[0], "q99");
});

test("NDJSON lines survive any chunking, UTF-8 split across chunks included", () => {
  const text = '{"a":"é"}\n{"b":2}\n\n{"c":3}';
  const bytes = new TextEncoder().encode(text);
  for (let cut = 1; cut < bytes.length; cut++) {
    const s = new LineSplitter();
    const lines = [...s.push(bytes.slice(0, cut)), ...s.push(bytes.slice(cut)), ...s.end()];
    assert.deepEqual(lines, ['{"a":"é"}', '{"b":2}', '{"c":3}'], `cut at ${cut}`);
  }
});

test("the tail keeps the newest lines first and at most cap", () => {
  const b = new NewestFirst<number>(5);
  b.add([1, 2, 3]);
  assert.deepEqual(b.add([4, 5, 6, 7]), [7, 6, 5, 4, 3]);
  assert.equal(b.dropped, 2);
  b.clear();
  assert.deepEqual(b.items, []);
});

test("tail lines: hits, gaps, and heartbeats ignored", () => {
  const h = parseTailLine('{"time":"t","ts_ms":5,"_id":"x","message":"m","fields":{}}', 1);
  assert.ok(h && !("gap" in h) && h.message === "m");
  assert.deepEqual(parseTailLine('{"gap":12}', 2), { gap: 12, _id: "gap-2" });
  assert.equal(parseTailLine('{"heartbeat":true}', 3), null);
  assert.equal(parseTailLine("not json", 4), null);
});

test("Prometheus text: labels with escapes, totals and rates", () => {
  const a = parseMetrics([
    "# HELP x y",
    'sift_events_ingested_total{source="http"} 100',
    'sift_events_ingested_total{source="kafka"} 50',
    'sift_kafka_consumer_lag{source="kafka/t/0",partition="0"} 7',
    'weird{l="a\\"b\\\\c"} 1',
    "sift_wal_bytes 2048",
    "broken{ 1",
  ].join("\n"));
  assert.equal(total(a, "sift_events_ingested_total"), 150);
  assert.equal(total(a, "sift_events_ingested_total", "source", "http"), 100);
  assert.equal(a.get("weird")![0].labels.l, 'a"b\\c');
  assert.equal(total(a, "sift_wal_bytes"), 2048);
  assert.equal(a.has("broken"), false);
  const b = parseMetrics('sift_events_ingested_total{source="http"} 600\nsift_events_ingested_total{source="kafka"} 10');
  const r = ratesBy(a, b, "sift_events_ingested_total", "source", 5000);
  assert.equal(r.get("http"), 100);
  assert.equal(r.get("kafka"), 2); // went down: restarted, 10 is the increase
});

test("levels group into the histogram's stacks", () => {
  assert.equal(levelGroup("ERROR"), "error");
  assert.equal(levelGroup("Warning"), "warn");
  assert.equal(levelGroup("notice"), "info");
  assert.equal(levelGroup("audit"), "other");
  assert.equal(levelGroup(""), "none");
  const s = stackByLevel([
    { key: 0, time: "", count: 10, by: { error: 2, ERR: 1, info: 5, _other: 1 } },
    { key: 1, time: "", count: 3, by: {} },
  ], true);
  assert.deepEqual(s.groups, ["error", "info", "other", "none"]);
  assert.deepEqual(s.counts.error, [3, 0]);
  assert.deepEqual(s.counts.none, [1, 3]);
  const plain = stackByLevel([{ key: 0, time: "", count: 4 }], false);
  assert.deepEqual(plain.counts.all, [4]);
});

test("an alert's chart covers its span with room before and after", () => {
  const a = { started_ms: 100_000, updated_ms: 160_000, resolved_ms: 160_000 } as Alert;
  const w = alertWindow(a, 1_000_000);
  assert.equal(w.fromMs, 100_000 - 3 * 60_000);
  assert.equal(w.toMs, 220_000);
  const firing = { started_ms: 100_000, updated_ms: 130_000, resolved_ms: 0 } as Alert;
  assert.ok(alertWindow(firing, 200_000).toMs >= 200_000);
});

test("sizes and durations print as people read them", () => {
  assert.equal(fmtBytes(512), "512 B");
  assert.equal(fmtBytes(1536), "1.50 KiB");
  assert.equal(fmtBytes(10 * 1024 * 1024), "10.0 MiB");
  assert.equal(fmtDuration(59_000), "59 s");
  assert.equal(fmtDuration(3_900_000), "1 h 5 min");
});

test("cluster rows: every node, its partitions and lag, or why it failed", () => {
  assert.deepEqual(clusterRows(null), []);
  assert.deepEqual(clusterRows({ enabled: false, node_id: "a", peers: [] }), []);
  const rows = clusterRows({
    enabled: true,
    node_id: "node-a",
    peers: [{ url: "http://h:2", last_contact: "2026-01-01T00:00:00.000Z" }],
    nodes: [
      { node: "http://h:1", node_id: "node-a", ok: true, error: null,
        partitions: [{ key: "kafka/t/0", lag: 3 }, { key: "kafka/t/1", lag: null }, { key: "redis/s", lag: 4 }] },
      { node: "http://h:2", node_id: null, ok: false, partitions: null, error: "cannot connect" },
    ],
  });
  assert.equal(rows.length, 2);
  assert.deepEqual([rows[0].self, rows[0].partitions, rows[0].behind, rows[0].state], [true, 3, 7, "answering"]);
  assert.deepEqual([rows[1].id, rows[1].ok, rows[1].partitions, rows[1].behind, rows[1].state],
    ["?", false, null, null, "cannot connect"]);
  assert.equal(rows[1].lastContactMs, Date.parse("2026-01-01T00:00:00.000Z"));
});
