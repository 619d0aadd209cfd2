// Patterns: the templates of the query's events in the range, largest
// first (GET /api/v1/patterns), each with its share and a sparkline of
// its count over the range; click one to see its events in Discover.

import type * as preact from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, ApiError } from "../lib/api";
import { fmtCount } from "../lib/format";
import { templateQuery } from "../lib/query";
import { formatLocal, intervalFor, isoBound, resolveRange } from "../lib/time";
import type { HistogramReply, Pattern, PatternsReply } from "../lib/types";
import type { ViewProps } from "./Discover";

const SPARK_BUCKETS = 30;

/** A template with its variable parts (<*>) set apart. */
export function Template({ text }: { text: string | null }) {
  if (text === null) return <span class="tmpl" style={{ color: "var(--muted)" }}>(template evicted)</span>;
  const parts = text.split("<*>");
  const nodes: Array<string | preact.JSX.Element> = [];
  parts.forEach((p, i) => {
    nodes.push(p);
    if (i < parts.length - 1) nodes.push(<span key={i} class="w">{"<*>"}</span>);
  });
  return <span class="tmpl">{nodes}</span>;
}

/** An SVG sparkline of counts (area and line). */
export function Sparkline({ values, width = 120, height = 26 }: { values: number[]; width?: number; height?: number }) {
  if (values.length < 2) return <svg class="spark" width={width} height={height} />;
  const max = Math.max(1, ...values);
  const step = width / (values.length - 1);
  const pts = values.map((v, i) => [i * step, height - 2 - (v / max) * (height - 4)]);
  const line = pts.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join("");
  const area = `${line}L${width},${height}L0,${height}Z`;
  return (
    <svg class="spark" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img"
         aria-label={`from ${values[0]} to ${values[values.length - 1]}, peak ${max}`}>
      <path class="area" d={area} />
      <path class="line" d={line} />
    </svg>
  );
}

export function Patterns({ st, runKey, nav, setQueryError, onSearched }: ViewProps) {
  const [reply, setReply] = useState<PatternsReply | null>(null);
  const [sparks, setSparks] = useState<Record<number, number[]>>({});
  const [error, setError] = useState("");

  useEffect(() => {
    const ctl = new AbortController();
    const r = resolveRange({ from: st.from, to: st.to }, Date.now());
    setReply(null);
    setSparks({});
    setError("");
    if (!r) {
      setError("The time range cannot be read.");
      return undefined;
    }
    const from = isoBound(r.fromMs);
    const to = isoBound(r.toMs);
    api.get<PatternsReply>("/api/v1/patterns", { q: st.q, from, to, size: 50 }, ctl.signal)
      .then((p) => {
        if (ctl.signal.aborted) return;
        setReply(p);
        setQueryError(null);
        onSearched(st.q);
        // One small histogram per template, a few at a time (api.ts).
        const interval = intervalFor(r.toMs - r.fromMs, SPARK_BUCKETS);
        for (const pat of p.patterns) {
          if (!pat.template_id) continue;
          api.get<HistogramReply>("/api/v1/histogram", {
            q: templateQuery(st.q, pat.template_id), from, to, interval,
          }, ctl.signal)
            .then((h) => !ctl.signal.aborted &&
              setSparks((s) => ({ ...s, [pat.template_id]: h.buckets.map((b) => b.count) })))
            .catch(() => undefined);
        }
      })
      .catch((e) => {
        if (ctl.signal.aborted) return;
        if (e instanceof ApiError && e.status === 400) setQueryError(e);
        setError(e instanceof ApiError ? e.reason : String(e));
      });
    return () => ctl.abort();
  }, [st.q, st.from, st.to, runKey]);

  const open = (p: Pattern) => nav({ view: "discover", q: templateQuery(st.q, p.template_id), ctx: "" });

  return (
    <div class="page">
      <div class="card">
        <h3>
          Patterns
          <span style={{ color: "var(--muted)", fontWeight: 400 }}>
            {reply ? `${fmtCount(reply.distinct)} templates in ${fmtCount(reply.total)} events` : ""}
          </span>
        </h3>
        {error ? <div class="notice error" role="alert">{error}</div> : null}
        {!reply && !error ? <div class="notice">Loading…</div> : null}
        {reply && reply.patterns.length === 0 ? <div class="notice">No events in this range.</div> : null}
        {reply && reply.patterns.length > 0 ? (
          <table class="list" aria-label="Patterns">
            <thead>
              <tr>
                <th class="num">Count</th>
                <th>Share</th>
                <th>Pattern</th>
                <th>Over the range</th>
                <th>Last seen</th>
              </tr>
            </thead>
            <tbody>
              {reply.patterns.map((p) => (
                <tr key={p.template_id} class="click" data-template={p.template_id} onClick={() => open(p)}
                    title="Show these events in Discover">
                  <td class="num">{fmtCount(p.count)}</td>
                  <td>
                    <div class="sharecell">
                      <div class="share">
                        <span style={{ width: `${(100 * p.count) / Math.max(1, reply.total)}%` }} />
                      </div>
                      {((100 * p.count) / Math.max(1, reply.total)).toFixed(1)}%
                    </div>
                  </td>
                  <td>
                    <Template text={p.template} />
                    <div class="sample" title={p.sample}>{p.sample}</div>
                  </td>
                  <td>{sparks[p.template_id] ? <Sparkline values={sparks[p.template_id]} /> : null}</td>
                  <td style={{ whiteSpace: "nowrap", color: "var(--muted)" }}>{formatLocal(p.last_seen_ms, false)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
      </div>
    </div>
  );
}
