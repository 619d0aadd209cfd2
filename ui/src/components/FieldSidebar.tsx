// The field sidebar: the fields of the current hits (how many of them have
// each), then the store's other fields; click one for its top values in
// the whole query (GET /api/v1/terms) and filter in (+) or out (−).

import { useEffect, useState } from "preact/hooks";
import { api, ApiError } from "../lib/api";
import { fmtCount } from "../lib/format";
import type { FieldInfo, Hit, TermsReply } from "../lib/types";
import { IconMinus, IconPlus } from "./icons";

interface Props {
  hits: Hit[];
  fields: FieldInfo[];
  q: string;
  fromIso: string;
  toIso: string;
  runKey: number;
  onFilter: (field: string, value: string, negate: boolean) => void;
}

function typeLetter(f: FieldInfo | undefined): string {
  if (!f) return "k";
  if (f.number) return "#";
  if (f.text) return "t";
  return "k";
}

export function FieldSidebar({ hits, fields, q, fromIso, toIso, runKey, onFilter }: Props) {
  const [open, setOpen] = useState<string | null>(null);
  const byName = new Map(fields.map((f) => [f.name, f]));
  const present = new Map<string, number>();
  for (const h of hits) for (const k of Object.keys(h.fields)) present.set(k, (present.get(k) || 0) + 1);
  const inHits = [...present.keys()].sort();
  const others = fields
    .map((f) => f.name)
    .filter((n) => !present.has(n) && n !== "message" && !n.startsWith("_"))
    .sort();

  useEffect(() => setOpen(null), [runKey]);

  const item = (name: string) => (
    <div class="field" key={name}>
      <button class="fieldname" aria-expanded={open === name} data-field={name}
              onClick={() => setOpen(open === name ? null : name)}>
        <span class="ftype" title={byName.get(name)?.number ? "number" : byName.get(name)?.text ? "text" : "keyword"}>
          {typeLetter(byName.get(name))}
        </span>
        <span class="name">{name}</span>
        {present.has(name) ? <span class="count">{present.get(name)}</span> : null}
      </button>
      {open === name ? (
        <TopValues field={name} q={q} fromIso={fromIso} toIso={toIso} onFilter={onFilter} />
      ) : null}
    </div>
  );

  return (
    <aside class="sidebar" aria-label="Fields">
      <h3>Fields in these hits</h3>
      {inHits.length ? inHits.map(item) : <div class="notice">No hits</div>}
      {others.length ? <h3>Other fields</h3> : null}
      {others.map(item)}
    </aside>
  );
}

function TopValues({ field, q, fromIso, toIso, onFilter }: {
  field: string; q: string; fromIso: string; toIso: string;
  onFilter: (field: string, value: string, negate: boolean) => void;
}) {
  const [reply, setReply] = useState<TermsReply | null>(null);
  const [error, setError] = useState("");

  useEffect(() => {
    const ctl = new AbortController();
    setReply(null);
    setError("");
    api.get<TermsReply>("/api/v1/terms", { q, from: fromIso, to: toIso, field, size: 5 }, ctl.signal)
      .then(setReply)
      .catch((e) => {
        if (!ctl.signal.aborted) setError(e instanceof ApiError ? e.reason : String(e));
      });
    return () => ctl.abort();
  }, [field, q, fromIso, toIso]);

  if (error) return <div class="topvalues err">{error}</div>;
  if (!reply) return <div class="topvalues" style={{ color: "var(--muted)" }}>Loading…</div>;
  const sum = reply.buckets.reduce((a, b) => a + b.count, 0) + reply.other + reply.missing;
  if (reply.buckets.length === 0) return <div class="topvalues" style={{ color: "var(--muted)" }}>No values</div>;
  return (
    <div class="topvalues" data-topvalues={field}>
      {reply.buckets.map((b) => {
        const pct = sum > 0 ? (100 * b.count) / sum : 0;
        return (
          <div class="topvalue" key={b.key}>
            <span class="v mono" title={b.key}>{b.key}</span>
            <button class="mini" title={`Filter for ${field}: ${b.key}`} aria-label={`Filter for ${b.key}`}
                    onClick={() => onFilter(field, b.key, false)}>
              <IconPlus />
            </button>
            <button class="mini" title={`Filter out ${field}: ${b.key}`} aria-label={`Filter out ${b.key}`}
                    onClick={() => onFilter(field, b.key, true)}>
              <IconMinus />
            </button>
            <span class="bar" title={`${fmtCount(b.count)} (${pct.toFixed(1)}%)`}>
              <span style={{ width: `${pct}%` }} />
            </span>
          </div>
        );
      })}
      <div style={{ color: "var(--muted)", fontSize: "11px" }}>
        Top {reply.buckets.length} of {fmtCount(sum)} events in the query
      </div>
    </div>
  );
}
