import assert from "node:assert/strict";
import { test } from "node:test";
import { intervalFor, isRelative, parseBound, rangeError, rangeLabel, resolveRange, zoomOut, zoomTo } from "../src/lib/time";

const NOW = Date.parse("2024-05-01T12:00:00Z");

test("bounds: now, now-N units, RFC 3339, epoch ms", () => {
  assert.equal(parseBound("now", NOW), NOW);
  assert.equal(parseBound("now-15m", NOW), NOW - 15 * 60_000);
  assert.equal(parseBound("now+1h", NOW), NOW + 3_600_000);
  assert.equal(parseBound("now-2w", NOW), NOW - 14 * 86_400_000);
  assert.equal(parseBound("2024-05-01T10:00:00Z", NOW), Date.parse("2024-05-01T10:00:00Z"));
  assert.equal(parseBound("2024-05-01T12:00:00.5+02:00", NOW), Date.parse("2024-05-01T10:00:00.500Z"));
  assert.equal(parseBound("1714557600000", NOW), 1714557600000);
  for (const bad of ["", "now-", "now-15x", "yesterday", "2024-05-01", "2024-13-01T00:00:00Z", "now - 5m"])
    assert.equal(parseBound(bad, NOW), null, bad);
  assert.ok(isRelative("now-1d") && isRelative("now") && !isRelative("2024-05-01T10:00:00Z"));
});

test("ranges resolve, and reversed or unreadable ones are reported", () => {
  assert.deepEqual(resolveRange({ from: "now-1h", to: "now" }, NOW), { fromMs: NOW - 3_600_000, toMs: NOW });
  assert.equal(resolveRange({ from: "now", to: "now-1h" }, NOW), null);
  assert.match(rangeError({ from: "now", to: "now-1h" }, NOW), /before/);
  assert.match(rangeError({ from: "soon", to: "now" }, NOW), /soon/);
  assert.equal(rangeError({ from: "now-5m", to: "now" }, NOW), "");
});

test("labels name quick ranges and other relative ones", () => {
  assert.equal(rangeLabel({ from: "now-15m", to: "now" }, NOW), "Last 15 minutes");
  assert.equal(rangeLabel({ from: "now-90m", to: "now" }, NOW), "Last 90 minutes");
  assert.equal(rangeLabel({ from: "now-2d", to: "now" }, NOW), "Last 2 days");
  assert.match(rangeLabel({ from: "2024-05-01T10:00:00Z", to: "now" }, NOW), /→ now$/);
});

test("zoom out doubles the range around its middle; ranges ending now stay relative", () => {
  assert.deepEqual(zoomOut({ from: "now-15m", to: "now" }, NOW), { from: "now-30m", to: "now" });
  const r = zoomOut({ from: "2024-05-01T10:00:00.000Z", to: "2024-05-01T11:00:00.000Z" }, NOW);
  assert.deepEqual(r, { from: "2024-05-01T09:30:00.000Z", to: "2024-05-01T11:30:00.000Z" });
  // Never past now when the range ended before it: the extra goes back.
  const z = zoomOut({ from: "2024-05-01T11:00:00.000Z", to: "2024-05-01T11:50:00.000Z" }, NOW);
  assert.equal(z.to, "2024-05-01T12:00:00.000Z");
  assert.equal(Date.parse(z.to) - Date.parse(z.from), 100 * 60_000);
});

test("zoom in gives an absolute, ordered range of at least 1 ms", () => {
  assert.deepEqual(zoomTo(2000.4, 1000.6), { from: new Date(1000).toISOString(), to: new Date(2001).toISOString() });
  assert.deepEqual(zoomTo(5, 5), { from: new Date(5).toISOString(), to: new Date(6).toISOString() });
});

test("histogram intervals for sparklines are whole seconds", () => {
  assert.equal(intervalFor(3_600_000, 30), "120s");
  assert.equal(intervalFor(10_000, 30), "1s");
});
