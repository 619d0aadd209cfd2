// One hit as a row of the hits list, the context list and the live tail:
// time, level badge, service, host, and the message with the query's
// words highlighted.

import type { HighlightTerm } from "../lib/query";
import { highlight } from "../lib/query";
import { levelGroup } from "../lib/levels";
import { formatLocal } from "../lib/time";
import type { Hit } from "../lib/types";
import { hostOf, levelOf, serviceOf } from "../lib/types";

export const ROW_HEIGHT = 26;

export function Message({ text, terms }: { text: string; terms: HighlightTerm[] }) {
  return (
    <>
      {highlight(text, terms).map((p, i) => (p.hit ? <mark key={i}>{p.text}</mark> : p.text))}
    </>
  );
}

export function LevelBadge({ level }: { level: string }) {
  return level ? <span class={`badge ${levelGroup(level)}`}>{level}</span> : <span />;
}

export function HitsHeader() {
  return (
    <div class="hitshead">
      <span class="t">Time</span>
      <span class="lvl">Level</span>
      <span class="svc">Service</span>
      <span class="host">Host</span>
      <span>Message</span>
    </div>
  );
}

interface RowProps {
  hit: Hit;
  terms: HighlightTerm[];
  top?: number; // absolute position in a virtual list
  selected?: boolean;
  anchor?: boolean;
  onClick?: (h: Hit) => void;
}

export function Row({ hit, terms, top, selected, anchor, onClick }: RowProps) {
  const level = levelOf(hit);
  const cls = "row" + (selected ? " selected" : "") + (anchor ? " anchor" : "");
  const style = top === undefined ? { height: ROW_HEIGHT } : { top, height: ROW_HEIGHT };
  return (
    <div class={cls} style={style} data-id={hit._id} onClick={() => onClick && onClick(hit)}
         title={hit.message.length > 120 ? hit.message.slice(0, 2000) : undefined}>
      <span class="t">{formatLocal(hit.ts_ms)}</span>
      <span class="lvl"><LevelBadge level={level} /></span>
      <span class="svc">{serviceOf(hit)}</span>
      <span class="host">{hostOf(hit)}</span>
      <span class="msg"><Message text={hit.message} terms={terms} /></span>
    </div>
  );
}
