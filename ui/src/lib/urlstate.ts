// The page's state in its address, so a link can be shared and the back
// button works: /ui/?q=…&from=…&to=…&view=… (plus ctx= for the events
// around one hit, alert= for one alert).

import { DEFAULT_RANGE } from "./time";

export const VIEWS = ["discover", "tail", "patterns", "alerts", "status"] as const;
export type View = (typeof VIEWS)[number];

export interface UrlState {
  view: View;
  q: string;
  from: string;
  to: string;
  ctx: string; // "_id" of the context anchor, "" = none
  alert: string; // id of the alert shown, "" = none
}

export const DEFAULT_STATE: UrlState = {
  view: "discover",
  q: "",
  from: DEFAULT_RANGE.from,
  to: DEFAULT_RANGE.to,
  ctx: "",
  alert: "",
};

export function parseUrl(search: string): UrlState {
  const p = new URLSearchParams(search);
  const view = p.get("view") as View | null;
  return {
    view: view && (VIEWS as readonly string[]).includes(view) ? view : "discover",
    q: p.get("q") ?? "",
    from: p.get("from") || DEFAULT_RANGE.from,
    to: p.get("to") || DEFAULT_RANGE.to,
    ctx: p.get("ctx") ?? "",
    alert: p.get("alert") ?? "",
  };
}

/** "?q=…&from=…&to=…&view=…" (ctx and alert only when set). */
export function toSearch(s: UrlState): string {
  const p = new URLSearchParams();
  p.set("q", s.q);
  p.set("from", s.from);
  p.set("to", s.to);
  p.set("view", s.view);
  if (s.ctx) p.set("ctx", s.ctx);
  if (s.alert) p.set("alert", s.alert);
  return "?" + p.toString();
}

export function sameState(a: UrlState, b: UrlState): boolean {
  return a.view === b.view && a.q === b.q && a.from === b.from && a.to === b.to &&
    a.ctx === b.ctx && a.alert === b.alert;
}
