// The events around one hit, from the same source (GET /api/v1/context):
// older ones above, the hit itself marked, newer ones below; load more on
// either side, or group by service or by nothing instead.

import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError } from "../lib/api";
import type { HighlightTerm } from "../lib/query";
import type { ContextReply, Hit } from "../lib/types";
import { IconClose } from "./icons";
import { HitsHeader, Row } from "./Row";

const STEP = 10;

interface Props {
  id: string;
  terms: HighlightTerm[];
  onClose: () => void;
  onSelect: (h: Hit) => void;
  onOpenSource: (query: string, anchorMs: number) => void;
  selectedId: string | null;
}

export function ContextView({ id, terms, onClose, onSelect, onOpenSource, selectedId }: Props) {
  const [before, setBefore] = useState(STEP);
  const [after, setAfter] = useState(STEP);
  const [by, setBy] = useState("auto");
  const [reply, setReply] = useState<ContextReply | null>(null);
  const [error, setError] = useState("");
  const anchorRef = useRef<HTMLDivElement>(null);
  const scrolled = useRef("");

  useEffect(() => {
    const ctl = new AbortController();
    setError("");
    api.get<ContextReply>("/api/v1/context", { id, before, after, by }, ctl.signal)
      .then((r) => setReply(r))
      .catch((e) => {
        if (ctl.signal.aborted) return;
        setReply(null);
        setError(e instanceof ApiError ? e.reason : String(e));
      });
    return () => ctl.abort();
  }, [id, before, after, by]);

  // Bring the anchor into view once per anchor.
  useEffect(() => {
    if (reply && anchorRef.current && scrolled.current !== id) {
      scrolled.current = id;
      anchorRef.current.scrollIntoView({ block: "center" });
    }
  }, [reply]);

  const source = reply
    ? reply.by === "all" ? "every source" : reply.by === "service" ? "the same service" : "the same host and file"
    : "";
  return (
    <div class="main" aria-label="Surrounding events">
      <div class="ctxhead">
        <div class="what">
          <b>Surrounding events</b>{reply ? <> from {source}: <code>{reply.query}</code></> : null}
        </div>
        <label>
          Group by{" "}
          <select class="input" value={by} aria-label="Group context by"
                  onChange={(e) => setBy((e.currentTarget as HTMLSelectElement).value)}>
            <option value="auto">auto</option>
            <option value="source">host and file</option>
            <option value="service">service</option>
            <option value="all">all events</option>
          </select>
        </label>
        {reply ? (
          <button class="btn" onClick={() => onOpenSource(reply.query, reply.anchor.ts_ms)}>
            Open source in Discover
          </button>
        ) : null}
        <button class="btn" onClick={onClose} aria-label="Back to results"><IconClose /> Back to results</button>
      </div>
      {error ? <div class="notice error">{error}</div> : null}
      {reply ? (
        <div class="ctxlist">
          <HitsHeader />
          <div class="more">
            <button class="btn small" disabled={reply.before.length < before}
                    onClick={() => setBefore(before + STEP)}>
              {reply.before.length < before ? "Start of the source" : `Load ${STEP} older`}
            </button>
          </div>
          {reply.before.map((h) => (
            <Row key={h._id + "b"} hit={h} terms={terms} selected={h._id === selectedId} onClick={onSelect} />
          ))}
          <div ref={anchorRef}>
            <Row hit={reply.anchor} terms={terms} anchor onClick={onSelect} />
          </div>
          {reply.after.map((h) => (
            <Row key={h._id + "a"} hit={h} terms={terms} selected={h._id === selectedId} onClick={onSelect} />
          ))}
          <div class="more">
            <button class="btn small" disabled={reply.after.length < after}
                    onClick={() => setAfter(after + STEP)}>
              {reply.after.length < after ? "End of the source (so far)" : `Load ${STEP} newer`}
            </button>
          </div>
        </div>
      ) : !error ? <div class="notice">Loading…</div> : null}
    </div>
  );
}
