// The page: who the user is (a token prompt when siftd asks for one), the
// view tabs, the search row, and the state in the address bar.

import { useEffect, useRef, useState } from "preact/hooks";
import type { Whoami } from "./lib/api";
import { api, ApiError } from "./lib/api";
import { loadHistory, loadLocal, pushHistory, saveHistory, saveLocal } from "./lib/storage";
import type { UrlState, View } from "./lib/urlstate";
import { parseUrl, sameState, toSearch } from "./lib/urlstate";
import { IconLogo, IconMoon, IconSearch, IconSun } from "./components/icons";
import { QueryBar } from "./components/QueryBar";
import { TimePicker } from "./components/TimePicker";
import { Alerts } from "./views/Alerts";
import type { ViewProps } from "./views/Discover";
import { Discover } from "./views/Discover";
import { Patterns } from "./views/Patterns";
import { Status } from "./views/Status";
import { Tail } from "./views/Tail";

const TABS: Array<[View, string]> = [
  ["discover", "Discover"],
  ["tail", "Live tail"],
  ["patterns", "Patterns"],
  ["alerts", "Alerts"],
  ["status", "Status"],
];

type Auth =
  | { phase: "checking" }
  | { phase: "login"; reason: string; denied: boolean }
  | { phase: "in"; who: Whoami };

function initialTheme(): string {
  const saved = loadLocal("sift.theme");
  if (saved === "dark" || saved === "light") return saved;
  return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

export function App({ firstWhoami }: { firstWhoami: Promise<Whoami> | null }) {
  const [auth, setAuth] = useState<Auth>({ phase: "checking" });
  const [st, setSt] = useState<UrlState>(() => parseUrl(window.location.search));
  const [runKey, setRunKey] = useState(0);
  const [draft, setDraft] = useState(st.q);
  const [queryError, setQueryError] = useState<ApiError | null>(null);
  const [history, setHistory] = useState<string[]>(loadHistory);
  const [theme, setTheme] = useState(initialTheme);
  const [toastMsg, setToastMsg] = useState<{ text: string; error: boolean } | null>(null);
  const queryInput = useRef<HTMLInputElement>(null);
  const stRef = useRef(st);
  stRef.current = st;

  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    saveLocal("sift.theme", theme);
  }, [theme]);

  // Who am I: decides between the login prompt and the app.  The first
  // answer was asked for before the first render (main.tsx).
  const checkAuth = async (reasonIfOut = "", first: Promise<Whoami> | null = null) => {
    try {
      const who = await (first || api.whoami());
      if (who.authenticated && (who.role === "reader" || who.role === "admin")) {
        setAuth({ phase: "in", who });
        return true;
      }
      if (who.authenticated && who.role === "writer")
        setAuth({ phase: "login", reason: "This token may only ingest events. Sign in with a reader or admin token.", denied: false });
      else if (!who.tokens_configured)
        setAuth({ phase: "login", reason: who.reason || "siftd accepts only loopback clients.", denied: true });
      else setAuth({ phase: "login", reason: reasonIfOut, denied: false });
    } catch (e) {
      setAuth({ phase: "login", reason: e instanceof ApiError ? e.reason : "siftd cannot be reached.", denied: true });
    }
    return false;
  };

  useEffect(() => {
    api.onUnauthorized = (reason) => {
      api.token = null;
      setAuth({ phase: "login", reason: `Signed out: ${reason}`, denied: false });
    };
    checkAuth("", firstWhoami);
  }, []);

  // The back and forward buttons.
  useEffect(() => {
    const onPop = () => {
      const next = parseUrl(window.location.search);
      setSt(next);
      setDraft(next.q);
      setQueryError(null);
    };
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);

  // Keyboard: "/" focuses the query (Esc is handled by what it closes).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      const typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
      if (e.key === "/" && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
        e.preventDefault();
        queryInput.current?.focus();
        queryInput.current?.select();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  /** Changes the state: a new history entry, or a re-run when nothing changed. */
  const nav = (patch: Partial<UrlState>) => {
    const next = { ...stRef.current, ...patch };
    if (sameState(next, stRef.current)) {
      setRunKey((k) => k + 1);
      return;
    }
    window.history.pushState(null, "", toSearch(next));
    stRef.current = next;
    setSt(next);
    if (patch.q !== undefined) setDraft(next.q);
  };

  const toast = (text: string, error = false) => {
    setToastMsg({ text, error });
    window.setTimeout(() => setToastMsg((t) => (t && t.text === text ? null : t)), error ? 6000 : 3000);
  };

  const onSearched = (q: string) => {
    if (q.trim() === "") return;
    setHistory((h) => {
      const next = pushHistory(h, q);
      saveHistory(next);
      return next;
    });
  };

  if (auth.phase === "checking") return <div class="center"><div class="notice">Connecting to siftd…</div></div>;
  if (auth.phase === "login")
    return <Login reason={auth.reason} denied={auth.denied} theme={theme} onSignedIn={() => checkAuth("That token was not accepted.")} />;

  const who = auth.who;
  const props: ViewProps = {
    st, runKey, nav, role: who.role || "reader", theme, setQueryError, toast, onSearched,
  };
  const usesQuery = st.view === "discover" || st.view === "tail" || st.view === "patterns";
  return (
    <>
      <header class="topbar">
        <span class="brand"><IconLogo /> sift</span>
        <nav class="tabs" aria-label="Views">
          {TABS.map(([v, label]) => (
            <button key={v} class={"tab" + (st.view === v ? " active" : "")} aria-current={st.view === v ? "page" : undefined}
                    onClick={() => nav({ view: v, ctx: "" })}>
              {label}
            </button>
          ))}
        </nav>
        <span class="spacer" />
        <span class="who" data-role={who.role}>
          {who.principal !== "-" ? who.principal : ""} <span class="role">{who.role}</span>
          {who.tokens_configured ? (
            <button class="btn small" onClick={() => {
              api.token = null;
              setAuth({ phase: "login", reason: "Signed out.", denied: false });
            }}>Sign out</button>
          ) : null}
        </span>
        <button class="btn icon" aria-label={theme === "dark" ? "Light theme" : "Dark theme"}
                title={theme === "dark" ? "Light theme" : "Dark theme"}
                onClick={() => setTheme(theme === "dark" ? "light" : "dark")}>
          {theme === "dark" ? <IconSun /> : <IconMoon />}
        </button>
      </header>
      {usesQuery ? (
        <div class="searchrow">
          <QueryBar value={draft} onInput={setDraft} error={queryError} history={history} inputRef={queryInput}
                    onSubmit={(q) => {
                      setQueryError(null);
                      nav({ q, ctx: "" });
                    }} />
          {st.view !== "tail" ? (
            <TimePicker range={{ from: st.from, to: st.to }} onChange={(r) => nav({ ...r, ctx: "" })} />
          ) : null}
          <button class="btn primary" onClick={() => {
            setQueryError(null);
            nav({ q: draft, ctx: "" });
          }}>
            <IconSearch /> {st.view === "tail" ? "Follow" : "Search"}
          </button>
        </div>
      ) : null}
      {st.view === "discover" ? <Discover {...props} /> : null}
      {st.view === "tail" ? <Tail {...props} /> : null}
      {st.view === "patterns" ? <Patterns {...props} /> : null}
      {st.view === "alerts" ? <Alerts {...props} /> : null}
      {st.view === "status" ? <Status {...props} /> : null}
      {toastMsg ? <div class={"toast" + (toastMsg.error ? " error" : "")} role="status">{toastMsg.text}</div> : null}
    </>
  );
}

function Login({ reason, denied, onSignedIn }: { reason: string; denied: boolean; theme: string; onSignedIn: () => Promise<boolean> }) {
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState(reason);
  useEffect(() => setMsg(reason), [reason]);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!token.trim()) return;
    setBusy(true);
    api.token = token.trim();
    const ok = await onSignedIn();
    if (!ok) api.token = null;
    setBusy(false);
  };
  return (
    <div class="center">
      <div class="card login">
        <h1><IconLogo /> sift</h1>
        {denied ? (
          <p class="err" role="alert">{msg}</p>
        ) : (
          <>
            <p>This siftd asks for a token. Use a reader or admin token from its <code>[auth]</code> configuration;
              it is kept in this tab only.</p>
            <form onSubmit={submit} aria-label="Sign in">
              <input class="input" type="password" autocomplete="current-password" aria-label="Token"
                     placeholder="Token" value={token} autofocus
                     onInput={(e) => setToken((e.currentTarget as HTMLInputElement).value)} />
              {msg ? <div class="err" role="alert">{msg}</div> : null}
              <button class="btn primary" type="submit" disabled={busy || !token.trim()}>
                {busy ? "Checking…" : "Sign in"}
              </button>
            </form>
          </>
        )}
      </div>
    </div>
  );
}
