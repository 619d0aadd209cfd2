// The web UI in a real browser: Debian's chromium, driven by
// playwright-core, against the real siftd with real ingested data (Loghub
// lines as ECS events, and the anomaly test's incident so an alert fires).
//
// One siftd without tokens (loopback clients are admin, as for the API)
// serves most scenarios; a second one with reader and admin tokens serves
// the login prompt and the role rules.  Every scenario checks what the
// page shows against what the API answers for the same question.  No
// console error may appear (the deliberate query error's 400s aside).
//
// Run by CTest (blackbox.ui_browser); alone: SIFTD=build/asan/siftd node
// --test tests/browser/ui.test.mjs.  SIFT_UI_SCREENSHOTS=docs/ui writes
// the screenshots of docs/ui.md.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ANOMALY_ARGS, Siftd, ingestIncident, launchBrowser, loghubEvents, waitFor } from "./harness.mjs";

const SHOTS = process.env.SIFT_UI_SCREENSHOTS || "";
const TOKENS = {
  reader: "reader-token-0123456789abcdef",
  admin: "admin-token-0123456789abcdef01",
};
const TOKENS_SET = `reader1:reader:${TOKENS.reader} admin1:admin:${TOKENS.admin}`;

let a; // siftd without tokens
let b; // siftd with tokens
let browser;
let alertId;
const consoleErrors = [];
const HOUR = 3_600_000;

async function openPage(s, url, { token = null, allow = null } = {}) {
  const page = await browser.context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error" && !(allow && allow.test(m.text()))) consoleErrors.push(`${url}: ${m.text()}`);
  });
  page.on("pageerror", (e) => consoleErrors.push(`${url}: ${e.message}`));
  if (token) await page.addInitScript((t) => window.sessionStorage.setItem("sift.token", t), token);
  await page.goto(s.url + url);
  return page;
}

async function shot(page, name) {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.waitForTimeout(300); // let charts finish their frame
  await page.screenshot({ path: path.join(SHOTS, name + ".png") });
}

const params = (page) => new URL(page.url()).searchParams;
const shownTotal = async (page) => Number(await page.getAttribute(".total", "data-total"));

/**
 * Waits until the Discover view has its answers (search and histogram)
 * for its URL and shows the API's total for the same question.
 */
async function waitTotal(page, s, token) {
  const p = params(page);
  const want = await s.count(p.get("q") || "", isoOf(p.get("from")), isoOf(p.get("to")), token);
  await waitFor(async () => (await page.getAttribute(".main", "data-busy")) === "0" &&
                  (await shownTotal(page)) === want, `total ${want} shown (url ${page.url()})`);
  return want;
}

// Relative bounds are resolved the way the page does, close enough for
// data that sits well inside the range.
function isoOf(bound) {
  if (!bound) return "";
  const m = /^now(?:-(\d+)([smhd]))?$/.exec(bound);
  if (!m) return bound;
  const unit = { s: 1000, m: 60000, h: HOUR, d: 24 * HOUR }[m[2]] || 0;
  return new Date(Date.now() - (m[1] ? Number(m[1]) * unit : 0)).toISOString();
}

async function rowTexts(page, sel = ".hits .row .msg") {
  return page.$$eval(sel, (els) => els.map((e) => e.textContent));
}

describe("web UI", () => {
  before(async () => {
    let chromium;
    try {
      ({ chromium } = await import("playwright-core"));
    } catch {
      throw new Error("playwright-core is not installed: run scripts/ui.sh browser-deps");
    }
    a = await new Siftd("open", ANOMALY_ARGS).start();
    b = await new Siftd("tokens", [...ANOMALY_ARGS, "--set", "auth.tokens=" + TOKENS_SET]).start();
    const now = Date.now();
    // The incident, 50 minutes ago, one window per request.
    const t0 = Math.floor((now - 50 * 60_000) / 1000) * 1000;
    await ingestIncident(a, t0);
    // 8000 Loghub lines over the last 30 minutes.
    await a.ingest(loghubEvents(now - 120_000, 2000, 30 * 60_000));
    await a.waitCount("*", 8000 + 13 * 10 + 20);
    alertId = (await waitFor(async () => {
      const r = await a.get("/api/v1/alerts?state=resolved");
      return r.alerts.find((x) => x.series === "service=checkout" && x.kind === "error_ratio");
    }, "the incident's alert to resolve")).id;
    await ingestIncident(b, t0, TOKENS.admin);
    await b.ingest(loghubEvents(now - 120_000, 200, 10 * 60_000), TOKENS.admin);
    await b.waitCount("*", 800 + 13 * 10 + 20, TOKENS.admin);
    browser = await launchBrowser(chromium);
  });

  after(async () => {
    if (browser) await browser.close();
    if (a) await a.stop();
    if (b) await b.stop();
  });

  test("a search typed in the query bar finds the known events, highlighted", async () => {
    const page = await openPage(a, "/ui/?from=now-1h");
    await page.waitForSelector(".hits .row");
    await shot(page, "discover");
    await page.keyboard.press("/"); // focuses the query bar
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute("aria-label")), "Query");
    await page.keyboard.type('"Failed password"');
    await page.keyboard.press("Enter");
    await waitFor(() => params(page).get("q") === '"Failed password"', "the query in the URL");
    const want = await waitTotal(page, a);
    assert.ok(want > 50, `${want} hits`);
    const msgs = await rowTexts(page);
    assert.ok(msgs.length > 10);
    for (const m of msgs) assert.match(m, /failed password/i);
    const marks = await page.$$eval(".hits .row mark", (els) => els.map((e) => e.textContent.toLowerCase()));
    assert.ok(marks.includes("failed") && marks.includes("password"));
    await page.close();
  });

  test("a field value clicked in the sidebar narrows the hits", async () => {
    const page = await openPage(a, "/ui/?from=now-1h");
    await page.click('.fieldname[data-field="service.name"]');
    await page.waitForSelector('[data-topvalues="service.name"]');
    await shot(page, "fields");
    await page.click('[data-topvalues="service.name"] button[aria-label="Filter for sshd"]');
    await waitFor(() => params(page).get("q") === 'service.name:"sshd"', "the filter in the query");
    await waitFor(async () => (await page.inputValue('input[aria-label="Query"]')) === 'service.name:"sshd"', "the query bar");
    assert.equal(await waitTotal(page, a), 2000);
    const services = await page.$$eval(".hits .row .svc", (els) => els.map((e) => e.textContent));
    assert.ok(services.length > 10 && services.every((s) => s === "sshd"));
    // Filter out a value too: the clause is ANDed, negated.
    await page.click('.fieldname[data-field="log.level"]');
    await page.waitForSelector('[data-topvalues="log.level"] button[aria-label="Filter out info"]');
    await page.click('[data-topvalues="log.level"] button[aria-label="Filter out info"]');
    await waitFor(() => params(page).get("q") === 'service.name:"sshd" AND -log.level:"info"', "the negated filter");
    const n = await waitTotal(page, a);
    assert.ok(n > 0 && n < 2000);
    await page.close();
  });

  test("dragging across the histogram zooms into that time", async () => {
    const page = await openPage(a, "/ui/?from=now-1h");
    await page.waitForSelector(".chart .u-over");
    await waitTotal(page, a);
    const box = await page.locator(".chart .u-over").boundingBox();
    const y = box.y + box.height / 2;
    await page.mouse.move(box.x + box.width * 0.55, y);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.7, y, { steps: 5 });
    await page.mouse.move(box.x + box.width * 0.85, y, { steps: 5 });
    await page.mouse.up();
    await waitFor(() => /^\d{4}-/.test(params(page).get("from") || ""), "an absolute range in the URL");
    const from = Date.parse(params(page).get("from"));
    const to = Date.parse(params(page).get("to"));
    assert.ok(to - from < 0.4 * HOUR && to - from > 0.2 * HOUR, `zoomed range ${to - from} ms`);
    const n = await waitTotal(page, a);
    assert.ok(n > 0 && n < 8000, `${n} events in the zoomed range`);
    // Zoom out doubles it again, around the same middle.
    await page.click('button[aria-label="Zoom out"]');
    await waitFor(() => Date.parse(params(page).get("to")) - Date.parse(params(page).get("from")) >= 2 * (to - from) - 2,
                  "the range doubled");
    await page.close();
  });

  test("an event's details, JSON, Esc, and the events around it", async () => {
    const q = '"Invalid user webmaster"';
    const page = await openPage(a, "/ui/?from=now-1h&q=" + encodeURIComponent(q));
    await waitTotal(page, a);
    await page.click(".hits .row");
    await page.waitForSelector(".flyout");
    await shot(page, "details");
    await page.keyboard.press("Escape");
    await waitFor(async () => (await page.$(".flyout")) === null, "Esc to close the details");
    await page.click(".hits .row");
    await page.click(".flyout .flytabs >> text=JSON");
    const json = JSON.parse(await page.textContent(".flyout [data-json]"));
    assert.match(json.message, /invalid user webmaster/i);
    await page.click(".flyout >> text=Surrounding events");
    await waitFor(() => params(page).get("ctx") === json._id, "ctx in the URL");
    await page.waitForSelector(".ctxlist .row.anchor");
    const want = await a.get(`/api/v1/context?id=${encodeURIComponent(json._id)}&before=10&after=10&by=auto`);
    const shown = await rowTexts(page, ".ctxlist .row .msg");
    assert.deepEqual(shown, [...want.before, want.anchor, ...want.after].map((h) => h.message));
    assert.equal(await page.textContent(".ctxlist .row.anchor .msg"), json.message);
    const hosts = await page.$$eval(".ctxlist .row .host", (els) => els.map((e) => e.textContent));
    assert.ok(hosts.length === 21 && hosts.every((h) => h === "LabSZ"), hosts.join());
    await shot(page, "context");
    await page.click("text=Load 10 older");
    const more = await a.get(`/api/v1/context?id=${encodeURIComponent(json._id)}&before=20&after=10&by=auto`);
    await waitFor(async () => (await page.$$(".ctxlist .row")).length === more.before.length + 1 + more.after.length,
                  "10 more older events");
    assert.ok(more.before.length > want.before.length);
    await page.click('button[aria-label="Back to results"]');
    await page.waitForSelector(".hits .row");
    assert.equal(params(page).get("ctx"), null);
    await page.close();
  });

  test("the live tail shows a newly ingested line within 2 s, newest on top, pause and resume", async () => {
    const page = await openPage(a, "/ui/?view=tail&q=tailmarker");
    await page.waitForSelector('[data-tail-status="live"]');
    const line = (n) => ({ "@timestamp": Date.now(), message: `tailmarker line ${n} from the browser test`,
                           "service.name": "tailtest", "host.name": "t-1", "log.level": "info" });
    const t0 = Date.now();
    await a.ingest([line(1)]);
    await page.waitForSelector(".hits .row >> text=tailmarker line 1", { timeout: 5000 });
    const took = Date.now() - t0;
    assert.ok(took < 2000, `the line took ${took} ms to show`);
    await a.ingest([line(2)]);
    await page.waitForSelector(".hits .row >> text=tailmarker line 2");
    assert.deepEqual((await rowTexts(page)).map((m) => m.split(" ")[2]), ["2", "1"]);
    await page.click("button >> text=Pause");
    await a.ingest([line(3)]);
    await page.waitForSelector("button >> text=Resume (1 new)");
    assert.equal((await rowTexts(page)).length, 2);
    await shot(page, "tail");
    await page.click("button >> text=Resume");
    await page.waitForSelector(".hits .row >> text=tailmarker line 3");
    assert.equal((await rowTexts(page))[0].split(" ")[2], "3");
    await page.close();
  });

  test("patterns list templates with sparklines; a click filters by _template_id", async () => {
    const page = await openPage(a, "/ui/?view=patterns&from=now-1h");
    await page.waitForSelector("tr[data-template]");
    const p = new URLSearchParams({ from: isoOf("now-1h"), size: "50" });
    const want = (await a.get("/api/v1/patterns?" + p)).patterns;
    const ids = await page.$$eval("tr[data-template]", (els) => els.map((e) => Number(e.getAttribute("data-template"))));
    assert.deepEqual(ids, want.map((x) => x.template_id));
    await page.waitForSelector("tr[data-template] svg.spark path.line");
    await shot(page, "patterns");
    await page.click(`tr[data-template="${want[0].template_id}"]`);
    await waitFor(() => params(page).get("view") === "discover", "Discover");
    assert.equal(params(page).get("q"), `_template_id:${want[0].template_id}`);
    assert.equal(await waitTotal(page, a), want[0].count);
    await page.close();
  });

  test("alerts show state, score, series and timeline; an admin marks a false positive", async () => {
    const page = await openPage(a, "/ui/?view=alerts");
    await page.click(`tr[data-alert="${alertId}"]`);
    await waitFor(() => params(page).get("alert") === String(alertId), "the alert in the URL");
    await page.waitForSelector(`[aria-label="Alert ${alertId}"] .chart canvas`);
    const detail = await page.textContent(`[aria-label="Alert ${alertId}"]`);
    assert.match(detail, /service=checkout/);
    assert.match(detail, /resolved/);
    assert.ok((await page.$$(".timeline li")).length >= 3);
    await shot(page, "alerts");
    await page.click("button >> text=False positive");
    await page.waitForSelector("[data-threshold]");
    assert.equal(await page.textContent("[data-threshold]"), "60");
    const got = await a.get(`/api/v1/alerts/${alertId}`);
    assert.equal(got.label, "false_positive");
    await page.close();
  });

  test("status shows tiers, ingest per source and readiness", async () => {
    const page = await openPage(a, "/ui/?view=status");
    await page.waitForSelector('[data-ready="ready"]');
    await page.waitForSelector('tr[data-source="http"]');
    const tiers = await a.get("/api/v1/tiers");
    const docs = Object.values(tiers.tiers).reduce((s, t) => s + t.docs, 0);
    const text = await page.textContent(".page");
    assert.ok(text.includes(docs.toLocaleString("en-US")), `${docs} events stored`);
    if (SHOTS) await page.waitForSelector("[data-rate]", { timeout: 15000 }); // a second scrape
    await shot(page, "status");
    await page.close();
  });

  test("ten thousand hits scroll in a list that renders only what is in view", async () => {
    const page = await openPage(a, "/ui/?from=now-1h");
    const total = await waitTotal(page, a);
    assert.ok(total >= 8000);
    // Each scroll to the end loads the next page (1000 hits) by cursor.
    await waitFor(async () => {
      await page.$eval(".hits", (el) => (el.scrollTop = el.scrollHeight));
      return (await page.$eval(".hits .hitsinner", (el) => el.offsetHeight / 26)) >= total;
    }, "every hit loaded by scrolling", 60000, 150);
    const loaded = await page.$eval(".hits .hitsinner", (el) => Math.round(el.offsetHeight / 26));
    assert.equal(loaded, total);
    const inDom = (await page.$$(".hits .row")).length;
    assert.ok(inDom < 120, `${inDom} rows in the DOM for ${loaded} hits`);
    // The end of the list is the oldest event of the range.
    const oldest = await a.get("/api/v1/search?" + new URLSearchParams({ from: isoOf("now-1h"), order: "asc", limit: "1" }));
    await waitFor(async () => {
      await page.$eval(".hits", (el) => (el.scrollTop = el.scrollHeight));
      const last = await rowTexts(page);
      return last[last.length - 1] === oldest.hits[0].message;
    }, "the oldest event at the end of the list");
    await page.close();
  });

  test("a deep link runs its search and exports it; the back button returns to it", async () => {
    const to = new Date(Date.now()).toISOString();
    const from = new Date(Date.now() - HOUR).toISOString();
    const q = 'service.name:"httpd" AND log.level:error';
    const url = "/ui/?" + new URLSearchParams({ q, from, to, view: "discover" });
    const page = await openPage(a, url);
    await waitFor(async () => (await page.inputValue('input[aria-label="Query"]')) === q, "the query bar");
    const n = await waitTotal(page, a);
    assert.equal(n, await a.count(q, from, to));
    // Export: the download holds every hit of the query and range.
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("button >> text=Export NDJSON")]);
    assert.match(download.suggestedFilename(), /^sift-export-.*\.ndjson$/);
    const lines = fs.readFileSync(await download.path(), "utf8").split("\n").filter((l) => l !== "");
    assert.equal(lines.length, n);
    for (const l of lines) assert.equal(JSON.parse(l).fields["service.name"], "httpd");
    await page.click("nav >> text=Patterns");
    await waitFor(() => params(page).get("view") === "patterns", "the patterns view");
    await page.goBack();
    await waitFor(() => params(page).get("view") === "discover", "back to Discover");
    await waitFor(async () => (await page.inputValue('input[aria-label="Query"]')) === q, "the query bar");
    assert.equal(await waitTotal(page, a), n);
    await page.close();
  });

  test("a malformed query shows the parser's error at its position; a warning is shown", async () => {
    const page = await openPage(a, "/ui/?from=now-1h", { allow: /status of 400/ });
    await page.waitForSelector(".hits .row");
    await page.fill('input[aria-label="Query"]', "(failed password");
    await page.keyboard.press("Enter");
    await page.waitForSelector(".qerror .caret");
    assert.match(await page.textContent(".qerror"), /expected '\)' at 16/);
    await waitFor(async () => (await page.$eval('input[aria-label="Query"]', (el) => el.selectionStart)) === 16,
                  "the cursor at the error");
    await shot(page, "query-error");
    // A reading the letter does not force is shown as siftd's warning.
    await page.fill('input[aria-label="Query"]', "webmaster or guest");
    await page.keyboard.press("Enter");
    await page.waitForSelector(".qwarning");
    assert.match(await page.textContent(".qwarning"), /'or' at 10 read as the operator OR/);
    assert.equal(await page.$(".qerror"), null);
    await page.close();
  });

  test("the dark theme is kept across reloads", async () => {
    const page = await openPage(a, "/ui/?from=now-1h");
    await page.waitForSelector(".hits .row");
    const before = await page.getAttribute("html", "data-theme");
    await page.click(`button[aria-label="${before === "dark" ? "Light theme" : "Dark theme"}"]`);
    const flipped = before === "dark" ? "light" : "dark";
    const theme = async () => (await page.getAttribute("html", "data-theme")) === flipped;
    await waitFor(theme, `the ${flipped} theme`);
    await page.reload();
    await page.waitForSelector(".hits .row");
    await waitFor(theme, `the ${flipped} theme after a reload`);
    if (flipped === "dark") await shot(page, "discover-dark");
    await page.click(`button[aria-label="${flipped === "dark" ? "Light theme" : "Dark theme"}"]`);
    await page.close();
  });

  test("with tokens: a login prompt; a bad token is refused, a reader's is kept for the tab", async () => {
    const page = await openPage(b, "/ui/");
    await page.waitForSelector('input[aria-label="Token"]');
    await shot(page, "login");
    await page.fill('input[aria-label="Token"]', "not-a-token-0000000000000");
    await page.click("button >> text=Sign in");
    await page.waitForSelector("text=That token was not accepted.");
    await page.fill('input[aria-label="Token"]', TOKENS.reader);
    await page.click("button >> text=Sign in");
    await page.waitForSelector('.who[data-role="reader"]');
    assert.equal(await page.evaluate(() => window.sessionStorage.getItem("sift.token")), TOKENS.reader);
    await page.reload();
    await page.waitForSelector('.who[data-role="reader"]');
    await page.close();
  });

  test("readers see no delete and the server refuses them; admins delete", async () => {
    const q = '"Invalid user webmaster"';
    const url = "/ui/?from=now-1h&q=" + encodeURIComponent(q);
    const reader = await openPage(b, url, { token: TOKENS.reader });
    assert.ok((await waitTotal(reader, b, TOKENS.reader)) > 0);
    assert.equal(await reader.$("button >> text=Delete…"), null);
    // An alert's details, without the feedback buttons.
    const alert = await waitFor(async () => (await b.get("/api/v1/alerts?state=resolved", TOKENS.reader)).alerts[0],
                                "an alert on the second siftd");
    await reader.click("nav >> text=Alerts");
    await reader.click(`tr[data-alert="${alert.id}"]`);
    await reader.waitForSelector(`[aria-label="Alert ${alert.id}"] .timeline`);
    assert.equal(await reader.$("button >> text=False positive"), null);
    await reader.close();
    const feedback = await b.request("POST", `/api/v1/alerts/${alert.id}/feedback`, {
      token: TOKENS.reader, body: JSON.stringify({ label: "false_positive" }),
    });
    assert.equal(feedback.status, 403);
    const refused = await b.request("POST", "/api/v1/delete", {
      token: TOKENS.reader, body: JSON.stringify({ query: q }),
    });
    assert.equal(refused.status, 403);
    assert.ok((await b.count(q, "", "", TOKENS.reader)) > 0);

    const admin = await openPage(b, url, { token: TOKENS.admin });
    await waitTotal(admin, b, TOKENS.admin);
    await admin.click("button >> text=Delete…");
    await admin.waitForSelector('[aria-label="Delete events"]');
    await shot(admin, "delete");
    await admin.click('[aria-label="Delete events"] button.danger');
    await waitFor(async () => (await b.count(q, "", "", TOKENS.admin)) === 0, "the events deleted");
    await waitFor(async () => (await shownTotal(admin)) === 0, "the page to show none left");
    await admin.close();
  });

  test("no console errors on any page", () => {
    assert.deepEqual(consoleErrors, []);
  });
});
