// Query strings as the UI edits them (docs/query-language.md): filter
// clauses added by clicks, and the words of a query that the hits list
// highlights in messages.

/** A keyword value in quotes: only `"` and `\` need escaping inside. */
export function quoteValue(v: string): string {
  return `"${v.replace(/[\\"]/g, (c) => "\\" + c)}"`;
}

/** A field name with the characters that end a bare word escaped. */
export function escapeField(f: string): string {
  return f.replace(/[\s()":\\*?/+\-]/g, (c) => "\\" + c);
}

/** `field:"value"`, or `-field:"value"` to exclude. */
export function fieldClause(field: string, value: string, negate = false): string {
  return `${negate ? "-" : ""}${escapeField(field)}:${quoteValue(value)}`;
}

/** Whether a query selects everything (blank or `*`). */
export function isMatchAll(q: string): boolean {
  const t = q.trim();
  return t === "" || t === "*";
}

/** Whether q has an OR (or ||) outside quotes, parentheses and escapes. */
function hasTopLevelOr(q: string): boolean {
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < q.length; i++) {
    const c = q[i];
    if (c === "\\") {
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (quoted) continue;
    if (c === "(") depth++;
    else if (c === ")") depth = Math.max(0, depth - 1);
    else if (depth === 0) {
      if (q.startsWith("||", i)) return true;
      if (q.startsWith("OR", i) && (i === 0 || /\s|\)/.test(q[i - 1])) &&
          (i + 2 === q.length || /\s|\(/.test(q[i + 2]))) return true;
    }
  }
  return false;
}

/**
 * Adds a clause to a query, ANDed (the query is put in parentheses when it
 * has a top-level OR).  Clicking the same filter twice does not repeat it;
 * clicking its opposite replaces it.
 */
export function addClause(q: string, clause: string): string {
  const t = q.trim();
  if (isMatchAll(t)) return clause;
  const opposite = clause.startsWith("-") ? clause.slice(1) : "-" + clause;
  const parts = splitTopLevelAnd(t);
  if (parts) {
    if (parts.includes(clause)) return t;
    const i = parts.indexOf(opposite);
    if (i >= 0) {
      parts[i] = clause;
      return parts.join(" AND ");
    }
  }
  return `${hasTopLevelOr(t) ? `(${t})` : t} AND ${clause}`;
}

/** "a AND b AND c" into its parts when that is all q is; else null. */
function splitTopLevelAnd(q: string): string[] | null {
  if (hasTopLevelOr(q)) return null;
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < q.length; i++) {
    const c = q[i];
    if (c === "\\") {
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (quoted) continue;
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (depth === 0 && q.startsWith(" AND ", i)) {
      out.push(q.slice(start, i).trim());
      start = i + 5;
      i += 4;
    }
  }
  out.push(q.slice(start).trim());
  return out;
}

/** Narrows q to one template: `_template_id:N`, ANDed. */
export function templateQuery(q: string, templateId: number): string {
  return addClause(q, `_template_id:${templateId}`);
}

// ---- highlighting ----

/** A term to highlight in messages: a token, or a token prefix (`pay*`). */
export interface HighlightTerm {
  token: string;
  prefix: boolean;
}

const TOKEN = /[A-Za-z0-9\u0080-\uffff]+/g;

/** The tokens of a text as sift indexes them: letters and digits, lowercased. */
export function tokens(text: string): string[] {
  return (text.match(TOKEN) || []).map((t) => t.toLowerCase());
}

/**
 * The message words a query looks for: bare words and phrases (and those
 * on `message:`), not the ones under NOT or `-`, not other fields.
 */
export function highlightTerms(q: string): HighlightTerm[] {
  const out: HighlightTerm[] = [];
  const seen = new Set<string>();
  const add = (token: string, prefix: boolean) => {
    const key = (prefix ? "*" : "") + token;
    if (token && !seen.has(key)) {
      seen.add(key);
      out.push({ token, prefix });
    }
  };
  let i = 0;
  let negated = false;
  const groups: boolean[] = []; // per open parenthesis: negated as a whole
  const isNegated = () => negated || groups.some((g) => g);
  while (i < q.length) {
    const c = q[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "(") {
      groups.push(negated);
      negated = false;
      i++;
      continue;
    }
    if (c === ")") {
      groups.pop();
      negated = false;
      i++;
      continue;
    }
    if (c === "-") {
      negated = true;
      i++;
      continue;
    }
    if (c === "+") {
      i++;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      let text = "";
      while (j < q.length && q[j] !== '"') {
        if (q[j] === "\\" && j + 1 < q.length) j++;
        text += q[j];
        j++;
      }
      if (!isNegated()) for (const t of tokens(text)) add(t, false);
      negated = false;
      i = j + 1;
      continue;
    }
    if (c === "/") {
      // A regex: skip it (too costly to mirror here).
      let j = i + 1;
      while (j < q.length && q[j] !== "/") j += q[j] === "\\" ? 2 : 1;
      negated = false;
      i = j + 1;
      continue;
    }
    // A bare word, maybe "field:" followed by a value.
    let j = i;
    let word = "";
    while (j < q.length && !/[\s()"]/.test(q[j])) {
      if (q[j] === "\\" && j + 1 < q.length) {
        word += q[j + 1];
        j += 2;
        continue;
      }
      if (q[j] === ":") break;
      word += q[j];
      j++;
    }
    if (q[j] === ":") {
      const field = word;
      i = j + 1;
      if (field !== "message" && field !== "msg") {
        // Skip the value: a phrase, a group, a range or a word.
        i = skipValue(q, i);
        negated = false;
        continue;
      }
      continue; // message:value: read the value as a bare term
    }
    i = j;
    // Operators, lower-case ones too (read as in KQL).
    if (/^(and|or|&&|\|\|)$/i.test(word)) continue;
    if (/^not$/i.test(word)) {
      negated = true;
      continue;
    }
    if (!isNegated() && word !== "*") {
      const wild = word.indexOf("*") >= 0 || word.indexOf("?") >= 0;
      const toks = tokens(word.replace(/[*?]/g, " "));
      if (!wild) for (const t of toks) add(t, false);
      else if (/^[^*?]+\*$/.test(word) && toks.length === 1) add(toks[0], true);
    }
    negated = false;
  }
  return out;
}

function skipValue(q: string, i: number): number {
  if (q[i] === '"') {
    let j = i + 1;
    while (j < q.length && q[j] !== '"') j += q[j] === "\\" ? 2 : 1;
    return j + 1;
  }
  if (q[i] === "(" || q[i] === "[" || q[i] === "{") {
    let depth = 0;
    let j = i;
    for (; j < q.length; j++) {
      if (q[j] === "\\") {
        j++;
        continue;
      }
      if ("([{".includes(q[j])) depth++;
      if (")]}".includes(q[j]) && --depth === 0) return j + 1;
    }
    return j;
  }
  let j = i;
  while (j < q.length && !/[\s()]/.test(q[j])) j += q[j] === "\\" ? 2 : 1;
  return j;
}

/** A piece of a message: plain text, or text that matched a term. */
export interface Piece {
  text: string;
  hit: boolean;
}

/** Splits text into pieces, marking the tokens that match a term. */
export function highlight(text: string, terms: HighlightTerm[]): Piece[] {
  if (terms.length === 0 || text === "") return [{ text, hit: false }];
  const pieces: Piece[] = [];
  let last = 0;
  TOKEN.lastIndex = 0;
  for (let m = TOKEN.exec(text); m !== null; m = TOKEN.exec(text)) {
    const tok = m[0].toLowerCase();
    const hit = terms.some((t) => (t.prefix ? tok.startsWith(t.token) : tok === t.token));
    if (!hit) continue;
    if (m.index > last) pieces.push({ text: text.slice(last, m.index), hit: false });
    pieces.push({ text: m[0], hit: true });
    last = m.index + m[0].length;
  }
  if (last < text.length) pieces.push({ text: text.slice(last), hit: false });
  return pieces;
}
