// Discover: the hits of the query in the range, newest first, with the
// histogram stacked by level above them, the field sidebar beside them,
// one event's details in a flyout, the events around a hit, NDJSON
// export, and (admins) delete-by-query.

import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, ApiError } from "../lib/api";
import { fmtCount } from "../lib/format";
import { GROUP_LABEL, stackByLevel } from "../lib/levels";
import { addClause, fieldClause, highlightTerms, isMatchAll, templateQuery } from "../lib/query";
import { isoBound, rangeLabel, resolveRange, zoomTo } from "../lib/time";
import type { FieldInfo, HistogramReply, Hit, SearchReply } from "../lib/types";
import type { UrlState } from "../lib/urlstate";
import { ContextView } from "../components/ContextView";
import { DocFlyout } from "../components/DocFlyout";
import { FieldSidebar } from "../components/FieldSidebar";
import { Histogram, levelColor } from "../components/Histogram";
import { IconDownload, IconTrash } from "../components/icons";
import { HitsHeader, ROW_HEIGHT, Row } from "../components/Row";
import { VirtualList } from "../components/VirtualList";

const PAGE = 200;
const MAX_HITS = 10000; // query.max_hits' default: the most one list holds

export interface ViewProps {
  st: UrlState;
  runKey: number;
  nav: (patch: Partial<UrlState>) => void;
  role: string;
  theme: string;
  setQueryError: (e: ApiError | null) => void;
  toast: (msg: string, error?: boolean) => void;
  onSearched: (q: string) => void;
}

interface Run {
  fromIso: string;
  toIso: string;
  fromMs: number;
  toMs: number;
}

export function Discover({ st, runKey, nav, role, theme, setQueryError, toast, onSearched }: ViewProps) {
  const [hits, setHits] = useState<Hit[]>([]);
  const [total, setTotal] = useState<SearchReply["total"] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [hist, setHist] = useState<HistogramReply | null>(null);
  const [fields, setFields] = useState<FieldInfo[]>([]);
  const [loading, setLoading] = useState(false);
  const [histLoading, setHistLoading] = useState(false);
  const [error, setError] = useState("");
  const [errorType, setErrorType] = useState("");
  const [warnings, setWarnings] = useState<string[]>([]);
  const [selected, setSelected] = useState<Hit | null>(null);
  const [run, setRun] = useState<Run | null>(null);
  const loadingMore = useRef(false);
  const ctl = useRef<AbortController | null>(null);
  const terms = useMemo(() => highlightTerms(st.q), [st.q]);

  // A layout effect: the requests leave right after this render, not a
  // frame later.
  useLayoutEffect(() => {
    ctl.current?.abort();
    const c = new AbortController();
    ctl.current = c;
    const r = resolveRange({ from: st.from, to: st.to }, Date.now());
    setSelected(null);
    if (!r) {
      setError(`The time range ${st.from} → ${st.to} cannot be read.`);
      setHits([]);
      setHist(null);
      setRun(null);
      return undefined;
    }
    const cur: Run = { fromIso: isoBound(r.fromMs), toIso: isoBound(r.toMs), ...r };
    setRun(cur);
    setLoading(true);
    setHistLoading(true);
    setError("");
    setCursor(null);
    loadingMore.current = false;
    const base = { q: st.q, from: cur.fromIso, to: cur.toIso };
    const search = api.get<SearchReply>("/api/v1/search", { ...base, limit: PAGE }, c.signal);
    const histo = api.get<HistogramReply>("/api/v1/histogram", { ...base, by: "level", size: 10 }, c.signal);
    search
      .then((s) => {
        if (c.signal.aborted) return;
        setHits(s.hits);
        setTotal(s.total);
        setWarnings(s.warnings || []);
        setCursor(s.cursor);
        setQueryError(null);
        onSearched(st.q);
      })
      .catch((e) => {
        if (c.signal.aborted) return;
        setHits([]);
        setTotal(null);
        setWarnings([]);
        if (e instanceof ApiError && e.status === 400) setQueryError(e);
        setError(e instanceof ApiError ? e.reason : String(e));
        setErrorType(e instanceof ApiError ? e.type : "");
      })
      .finally(() => !c.signal.aborted && setLoading(false));
    histo
      .then((h) => !c.signal.aborted && setHist(h))
      .catch(() => !c.signal.aborted && setHist(null))
      .finally(() => !c.signal.aborted && setHistLoading(false));
    api.get<{ fields: FieldInfo[] }>("/api/v1/fields", {}, c.signal)
      .then((f) => !c.signal.aborted && setFields(f.fields))
      .catch(() => undefined);
    return () => c.abort();
  }, [st.q, st.from, st.to, runKey]);

  const loadMore = () => {
    if (!run || !cursor || loadingMore.current || hits.length >= MAX_HITS) return;
    loadingMore.current = true;
    const c = ctl.current;
    api.get<SearchReply>("/api/v1/search", {
      q: st.q, from: run.fromIso, to: run.toIso, limit: Math.min(1000, MAX_HITS - hits.length), cursor,
    }, c?.signal)
      .then((s) => {
        if (c?.signal.aborted) return;
        setHits((h) => h.concat(s.hits));
        setCursor(s.cursor);
      })
      .catch((e) => !c?.signal.aborted && toast(e instanceof ApiError ? e.reason : String(e), true))
      .finally(() => {
        loadingMore.current = false;
      });
  };

  const filter = (field: string, value: string, negate: boolean) =>
    nav({ q: addClause(st.q, fieldClause(field, value, negate)), ctx: "" });

  const histTotal = hist ? hist.buckets.reduce((a, b) => a + b.count, 0) : null;
  const shownTotal = histTotal !== null ? histTotal : total ? total.value : 0;
  const legend = hist ? stackByLevel(hist.buckets, true).groups : [];

  return (
    <div class="discover">
      <FieldSidebar hits={hits} fields={fields} q={st.q} fromIso={run?.fromIso || ""} toIso={run?.toIso || ""}
                    runKey={runKey} onFilter={filter} />
      {st.ctx ? (
        <ContextView key={st.ctx} id={st.ctx} terms={terms} selectedId={selected?._id || null} onSelect={setSelected}
                     onClose={() => nav({ ctx: "" })}
                     onOpenSource={(q, at) => nav({ q, ctx: "", ...zoomTo(at - 3_600_000, at + 3_600_000) })} />
      ) : (
        <div class="main" data-busy={loading || histLoading ? "1" : "0"}>
          <div class="chartbox">
            <div class="chartmeta">
              <span class="total" data-total={shownTotal}>
                {loading && !hist ? "…" : `${fmtCount(shownTotal)} ${shownTotal === 1 ? "event" : "events"}`}
              </span>
              <span>{run ? rangeLabel({ from: st.from, to: st.to }, Date.now()) : ""}</span>
              {hist ? <span>buckets of {fmtInterval(hist.interval_ms)}</span> : null}
              <span class="spacer" />
              <span class="legend">
                {legend.map((g) => (
                  <span key={g}><i style={{ background: levelColor(g) }} />{GROUP_LABEL[g]}</span>
                ))}
              </span>
            </div>
            {hist && run ? (
              <Histogram buckets={hist.buckets} intervalMs={hist.interval_ms} fromMs={run.fromMs} toMs={run.toMs}
                         theme={theme} onZoom={(a, b) => nav(zoomTo(a, b))} />
            ) : (
              <div class="chart" style={{ height: 130 }} />
            )}
          </div>
          {warnings.map((w) => <div key={w} class="qwarning" role="status">{w}</div>)}
          <div class="toolbar">
            <span class="grow">
              {hits.length > 0
                ? `Showing ${fmtCount(hits.length)} of ${fmtCount(total?.value || 0)}${total?.relation === "gte" ? "+" : ""} hits, newest first`
                : ""}
            </span>
            {run ? <ExportButton q={st.q} run={run} toast={toast} /> : null}
            {role === "admin" && run ? (
              <DeleteButton q={st.q} run={run} toast={toast} onDone={() => nav({})} />
            ) : null}
          </div>
          <HitsHeader />
          {error ? (
            <div class="notice error" role="alert">
              {/^(query_parse|query_too_long|invalid_regex)$/.test(errorType) ? "The query has an error (see above)." : error}
            </div>
          ) : !loading && hits.length === 0 ? (
            <div class="notice">
              No events match {isMatchAll(st.q) ? "" : <code>{st.q}</code>} in this range.
              <br />Try a longer range (the zoom-out button) or another query.
            </div>
          ) : (
            <VirtualList className="hits" items={hits} rowHeight={ROW_HEIGHT} resetKey={`${st.q}|${st.from}|${st.to}|${runKey}`}
                         onNearEnd={loadMore}
                         render={(h, _i, top) => (
                           <Row key={h._id + top} hit={h} terms={terms} top={top}
                                selected={selected?._id === h._id && selected?.ts_ms === h.ts_ms}
                                onClick={setSelected} />
                         )} />
          )}
        </div>
      )}
      {selected ? (
        <DocFlyout hit={selected} toast={toast} onClose={() => setSelected(null)} onFilter={filter}
                   onContext={(h) => {
                     setSelected(null);
                     nav({ ctx: h._id });
                   }}
                   onTemplate={(id) => {
                     setSelected(null);
                     nav({ q: templateQuery(st.q, id), ctx: "" });
                   }} />
      ) : null}
    </div>
  );
}

function fmtInterval(ms: number): string {
  const units: Array<[number, string]> = [[86_400_000, "d"], [3_600_000, "h"], [60_000, "min"], [1000, "s"]];
  for (const [u, n] of units) if (ms >= u && ms % u === 0) return `${ms / u} ${n}`;
  return `${ms} ms`;
}

function ExportButton({ q, run, toast }: { q: string; run: Run; toast: ViewProps["toast"] }) {
  const [bytes, setBytes] = useState<number | null>(null);
  const ctl = useRef<AbortController | null>(null);
  const start = async () => {
    const c = new AbortController();
    ctl.current = c;
    const parts: Uint8Array[] = [];
    let n = 0;
    setBytes(0);
    try {
      await api.stream("/api/v1/export", { q, from: run.fromIso, to: run.toIso }, (b) => {
        parts.push(b);
        n += b.length;
        setBytes(n);
      }, c.signal);
      const url = URL.createObjectURL(new Blob(parts as BlobPart[], { type: "application/x-ndjson" }));
      const a = document.createElement("a");
      a.href = url;
      a.download = `sift-export-${new Date().toISOString().replace(/[:.]/g, "-")}.ndjson`;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      toast(`Exported ${fmtCount(n)} bytes`);
    } catch (e) {
      if (!c.signal.aborted) toast(e instanceof ApiError ? e.reason : String(e), true);
    } finally {
      setBytes(null);
    }
  };
  if (bytes !== null)
    return (
      <button class="btn" onClick={() => ctl.current?.abort()} title="Cancel the export">
        Exporting… {fmtCount(bytes)} bytes (cancel)
      </button>
    );
  return (
    <button class="btn" onClick={start} title="Download every hit of the query as NDJSON">
      <IconDownload /> Export NDJSON
    </button>
  );
}

interface DeleteReply {
  matched: number;
  deleted: number;
  confirm_needed?: string[];
}

/**
 * Delete-by-query for admins: a dry run first (the exact count, and the
 * confirmations siftd will want), then the delete with those confirmations.
 */
function DeleteButton({ q, run, toast, onDone }: {
  q: string; run: Run; toast: ViewProps["toast"]; onDone: () => void;
}) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [dry, setDry] = useState<DeleteReply | null>(null);
  const [err, setErr] = useState("");
  const body = { query: q, from: run.fromIso, to: run.toIso };

  useEffect(() => {
    if (!open) return undefined;
    const ctl = new AbortController();
    setDry(null);
    setErr("");
    api.post<DeleteReply>("/api/v1/delete", { ...body, dry_run: true }, ctl.signal)
      .then(setDry)
      .catch((e) => !ctl.signal.aborted && setErr(e instanceof ApiError ? e.reason : String(e)));
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && setOpen(false);
    window.addEventListener("keydown", onKey);
    return () => {
      ctl.abort();
      window.removeEventListener("keydown", onKey);
    };
  }, [open]);

  const go = async () => {
    setBusy(true);
    try {
      const confirm: Record<string, boolean> = {};
      for (const c of dry?.confirm_needed || []) confirm[c] = true;
      const r = await api.post<DeleteReply>("/api/v1/delete", { ...body, ...confirm });
      toast(`Deleted ${fmtCount(r.deleted)} events`);
      setOpen(false);
      onDone();
    } catch (e) {
      toast(e instanceof ApiError ? e.reason : String(e), true);
    } finally {
      setBusy(false);
    }
  };
  const everything = (dry?.confirm_needed || []).includes("match_all");
  return (
    <>
      <button class="btn danger" onClick={() => setOpen(true)}
              title="Delete the events of this query and range (admin)">
        <IconTrash /> Delete…
      </button>
      {open ? (
        <div class="modalback">
          <div class="modal card" role="dialog" aria-label="Delete events">
            <h2>{dry ? `Delete ${fmtCount(dry.matched)} events?` : "Delete events?"}</h2>
            <p>
              Every event matching <code>{isMatchAll(q) ? "*" : q}</code> between {run.fromIso} and {run.toIso}
              {" "}will be deleted from every tier. This cannot be undone, and it is written to the audit log.
            </p>
            {everything ? <p class="err">This query matches every event of the range.</p> : null}
            {err ? <p class="err" role="alert">{err}</p> : null}
            <div class="actions">
              <button class="btn" onClick={() => setOpen(false)} disabled={busy}>Cancel</button>
              <button class="btn danger solid" onClick={go} disabled={busy || !dry || dry.matched === 0}>
                {busy ? "Deleting…" : dry ? `Delete ${fmtCount(dry.matched)} events` : "Counting…"}
              </button>
            </div>
          </div>
        </div>
      ) : null}
    </>
  );
}
