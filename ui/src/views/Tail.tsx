// Live tail: follows the query (GET /api/v1/tail, NDJSON), newest line on
// top.  Pause keeps the stream and counts what arrives; resume shows it.
// The page keeps at most MAX_LINES lines, so it can run for days.

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, ApiError } from "../lib/api";
import { fmtCount } from "../lib/format";
import type { TailLine } from "../lib/ndjson";
import { LineSplitter, NewestFirst, parseTailLine } from "../lib/ndjson";
import { addClause, fieldClause, highlightTerms } from "../lib/query";
import type { Hit } from "../lib/types";
import { DocFlyout } from "../components/DocFlyout";
import { IconPause, IconPlay } from "../components/icons";
import { HitsHeader, ROW_HEIGHT, Row } from "../components/Row";
import { VirtualList } from "../components/VirtualList";
import type { ViewProps } from "./Discover";

export const MAX_LINES = 2000;

export function Tail({ st, runKey, toast, setQueryError, nav, onSearched }: ViewProps) {
  const [lines, setLines] = useState<TailLine[]>([]);
  const [paused, setPaused] = useState(false);
  const [pending, setPending] = useState(0);
  const [status, setStatus] = useState<"connecting" | "live" | "retrying" | "error">("connecting");
  const [error, setError] = useState("");
  const [selected, setSelected] = useState<Hit | null>(null);
  const [received, setReceived] = useState(0);
  const buf = useRef(new NewestFirst<TailLine>(MAX_LINES));
  const held = useRef<TailLine[]>([]); // lines that came while paused (bounded too)
  const pausedRef = useRef(false);
  const terms = useMemo(() => highlightTerms(st.q), [st.q]);
  pausedRef.current = paused;

  useEffect(() => {
    const ctl = new AbortController();
    let seq = 0;
    let retry = 500;
    buf.current.clear();
    held.current = [];
    setLines([]);
    setPending(0);
    setReceived(0);
    setError("");
    const deliver = (batch: TailLine[]) => {
      if (batch.length === 0) return;
      setReceived((n) => n + batch.filter((l) => !("gap" in l)).length);
      if (pausedRef.current) {
        held.current = held.current.concat(batch).slice(-MAX_LINES);
        setPending(held.current.length);
        return;
      }
      setLines(buf.current.add(batch));
    };
    const connect = async () => {
      while (!ctl.signal.aborted) {
        setStatus(retry > 500 ? "retrying" : "connecting");
        const split = new LineSplitter();
        try {
          await api.stream("/api/v1/tail", { q: st.q }, (chunk) => {
            const batch: TailLine[] = [];
            for (const l of split.push(chunk)) {
              const t = parseTailLine(l, seq++);
              if (t) batch.push(t);
            }
            deliver(batch);
          }, ctl.signal, () => {
            setStatus("live");
            retry = 500;
          });
          // The server ended the stream (shutdown, or it cut an idle one).
        } catch (e) {
          if (ctl.signal.aborted) return;
          if (e instanceof ApiError && e.status >= 400 && e.status < 500 && e.status !== 429) {
            if (e.status === 400) setQueryError(e);
            setError(e.reason);
            setStatus("error");
            return;
          }
        }
        if (ctl.signal.aborted) return;
        setStatus("retrying");
        await new Promise((r) => setTimeout(r, retry));
        retry = Math.min(10_000, retry * 2);
      }
    };
    setStatus("connecting");
    connect();
    setQueryError(null);
    onSearched(st.q);
    return () => ctl.abort();
  }, [st.q, runKey]);

  const resume = () => {
    setPaused(false);
    setLines(buf.current.add(held.current));
    held.current = [];
    setPending(0);
  };

  return (
    <div class="main">
      <div class="toolbar">
        <span class="tailbar">
          <span class={"dot " + (paused ? "paused" : status === "live" ? "live" : "")} />
          <b data-tail-status={paused ? "paused" : status}>
            {paused ? "Paused" : status === "live" ? "Following" : status === "error" ? "Stopped" : status === "retrying" ? "Reconnecting…" : "Connecting…"}
          </b>
        </span>
        <span class="grow">
          {fmtCount(received)} new {received === 1 ? "event" : "events"} since the tail started
          {buf.current.dropped ? ` · oldest ${fmtCount(buf.current.dropped)} dropped from the page (keeps ${fmtCount(MAX_LINES)})` : ""}
        </span>
        {paused ? (
          <button class="btn primary" onClick={resume}><IconPlay /> Resume{pending ? ` (${fmtCount(pending)} new)` : ""}</button>
        ) : (
          <button class="btn" onClick={() => setPaused(true)}><IconPause /> Pause</button>
        )}
        <button class="btn" onClick={() => {
          buf.current.clear();
          held.current = [];
          setLines([]);
          setPending(0);
        }}>Clear</button>
        <button class="btn" onClick={() => nav({ view: "discover" })}>Search instead</button>
      </div>
      <HitsHeader />
      {error ? <div class="notice error" role="alert">{error}</div> : null}
      {lines.length === 0 && !error ? (
        <div class="notice">Waiting for new events{st.q ? <> matching <code>{st.q}</code></> : null}…</div>
      ) : (
        <VirtualList className="hits" items={lines} rowHeight={ROW_HEIGHT}
                     render={(l, _i, top) =>
                       "gap" in l ? (
                         <div key={l._id} class="row gap" style={{ top, height: ROW_HEIGHT }}>
                           {fmtCount(l.gap)} events were not sent here (this page read too slowly)
                         </div>
                       ) : (
                         <Row key={l._id} hit={l} terms={terms} top={top} selected={selected === l} onClick={setSelected} />
                       )} />
      )}
      {selected ? (
        <DocFlyout hit={selected} toast={toast} onClose={() => setSelected(null)}
                   onFilter={(f, v, neg) => {
                     setSelected(null);
                     nav({ q: addClause(st.q, fieldClause(f, v, neg)) });
                   }}
                   onContext={(h) => nav({ view: "discover", ctx: h._id })}
                   onTemplate={(id) => nav({ view: "discover", q: `_template_id:${id}` })} />
      ) : null}
    </div>
  );
}
