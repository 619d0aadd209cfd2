import assert from "node:assert/strict";
import { test } from "node:test";
import { addClause, escapeField, fieldClause, highlight, highlightTerms, quoteValue, templateQuery, tokens } from "../src/lib/query";

test("values are quoted and escaped the way the parser reads them", () => {
  assert.equal(quoteValue("web-1"), '"web-1"');
  assert.equal(quoteValue('a "b" \\c'), '"a \\"b\\" \\\\c"');
  assert.equal(escapeField("log.file.path"), "log.file.path");
  assert.equal(escapeField("a b:c"), "a\\ b\\:c");
  assert.equal(fieldClause("host.name", "web-1"), 'host.name:"web-1"');
  assert.equal(fieldClause("host.name", "web-1", true), '-host.name:"web-1"');
});

test("clauses are ANDed; ORs are kept together; no repeats; opposites replace", () => {
  const c = 'host.name:"a"';
  assert.equal(addClause("", c), c);
  assert.equal(addClause("*", c), c);
  assert.equal(addClause("error", c), `error AND ${c}`);
  assert.equal(addClause("a OR b", c), `(a OR b) AND ${c}`);
  assert.equal(addClause("a || b", c), `(a || b) AND ${c}`);
  assert.equal(addClause("(a OR b) c", c), `(a OR b) c AND ${c}`);
  assert.equal(addClause('msg:"x OR y"', c), `msg:"x OR y" AND ${c}`);
  assert.equal(addClause(`error AND ${c}`, c), `error AND ${c}`);
  assert.equal(addClause(`error AND ${c}`, "-" + c), `error AND -${c}`);
  assert.equal(addClause(`error AND -${c}`, c), `error AND ${c}`);
  assert.equal(templateQuery("", 17), "_template_id:17");
  assert.equal(templateQuery("sshd", 17), "sshd AND _template_id:17");
});

test("tokens split like the index: letters and digits, lowercased", () => {
  assert.deepEqual(tokens("user_id=42 Failed café"), ["user", "id", "42", "failed", "café"]);
});

test("highlight terms: message words and phrases, not fields, not negated ones", () => {
  const t = (q: string) => highlightTerms(q).map((x) => (x.prefix ? x.token + "*" : x.token));
  assert.deepEqual(t("failed password"), ["failed", "password"]);
  assert.deepEqual(t('"disk full" level:error'), ["disk", "full"]);
  assert.deepEqual(t("payment -declined NOT refund"), ["payment"]);
  assert.deepEqual(t("NOT (a b) c"), ["c"]);
  assert.deepEqual(t("pay* host:web* us?r"), ["pay*"]);
  assert.deepEqual(t('message:timeout msg:"x y" service:(api OR db) status:[500 TO *]'), ["timeout", "x", "y"]);
  assert.deepEqual(t("/dis[ck]/ user_id=42"), ["user", "id", "42"]);
  assert.deepEqual(t("a AND b OR c"), ["a", "b", "c"]);
  assert.deepEqual(t("payment or disk and not quota"), ["payment", "disk"]);
  assert.deepEqual(t("*"), []);
});

test("highlight marks whole tokens (and prefixes), case-insensitive", () => {
  const terms = highlightTerms("fail* password");
  const pieces = highlight("Failed Password for root; passwords ok", terms);
  assert.deepEqual(pieces.filter((p) => p.hit).map((p) => p.text), ["Failed", "Password"]);
  assert.equal(pieces.map((p) => p.text).join(""), "Failed Password for root; passwords ok");
  assert.deepEqual(highlight("x", []), [{ text: "x", hit: false }]);
});
