// Alerts: the newest alerts (GET /api/v1/alerts) with state, score and
// series; one alert's timeline next to the histogram of its series, with
// the spans of that series' alerts shaded; false-positive feedback for
// admins (POST /api/v1/alerts/{id}/feedback; readers do not see it, and
// the server refuses it to them anyway).

import { useEffect, useState } from "preact/hooks";
import { api, ApiError } from "../lib/api";
import { fmtDuration } from "../lib/format";
import { formatLocal, isoBound, zoomTo } from "../lib/time";
import { alertWindow } from "../lib/alerts";
import type { Alert, HistogramReply } from "../lib/types";
import type { Band } from "../components/Histogram";
import { Histogram } from "../components/Histogram";
import type { ViewProps } from "./Discover";

const LIMIT = 200;

function Score({ a }: { a: Alert }) {
  return (
    <span class="score" title={`peak ${a.score.toFixed(1)}, last ${a.last_score.toFixed(1)}, threshold ${a.threshold.toFixed(1)}`}>
      <span class="bar">
        <span style={{ width: `${Math.min(100, a.score)}%` }} />
        <i style={{ left: `${Math.min(100, a.threshold)}%` }} />
      </span>
      <b>{a.score.toFixed(0)}</b>
    </span>
  );
}

export function Alerts({ st, runKey, nav, role, theme, toast }: ViewProps) {
  const [state, setState] = useState("all");
  const [alerts, setAlerts] = useState<Alert[] | null>(null);
  const [error, setError] = useState("");
  const [reload, setReload] = useState(0);

  useEffect(() => {
    const ctl = new AbortController();
    setError("");
    api.get<{ alerts: Alert[] }>("/api/v1/alerts", { state, limit: LIMIT }, ctl.signal)
      .then((r) => !ctl.signal.aborted && setAlerts(r.alerts))
      .catch((e) => !ctl.signal.aborted && setError(e instanceof ApiError ? e.reason : String(e)));
    return () => ctl.abort();
  }, [state, runKey, reload]);

  const selected = alerts?.find((a) => String(a.id) === st.alert) || null;

  return (
    <div class="page">
      <div class="alertlayout">
        <div class="card">
          <h3>
            Alerts
            <span class="spacer" />
            {["all", "firing", "resolved"].map((s) => (
              <button key={s} class={"chip" + (state === s ? " active" : "")} onClick={() => setState(s)}>{s}</button>
            ))}
          </h3>
          {error ? <div class="notice error" role="alert">{error}</div> : null}
          {alerts && alerts.length === 0 ? (
            <div class="notice">No alerts{state !== "all" ? ` ${state}` : ""}. The scorer raises them when a series leaves its normal range (docs/anomaly.md).</div>
          ) : null}
          {alerts && alerts.length > 0 ? (
            <table class="list" aria-label="Alerts">
              <thead>
                <tr><th>State</th><th>Series</th><th>Kind</th><th>Score</th><th>Started</th><th>Lasted</th></tr>
              </thead>
              <tbody>
                {alerts.map((a) => (
                  <tr key={a.id} data-alert={a.id} class={"click" + (selected?.id === a.id ? " selected" : "")}
                      onClick={() => nav({ alert: String(a.id) })}>
                    <td><span class={`state ${a.state}`}>{a.state}</span></td>
                    <td class="mono">{a.series}{a.label ? <div class="sample">{a.label.replace("_", " ")}</div> : null}</td>
                    <td class="nowrap">{a.kind.replace("_", " ")}</td>
                    <td><Score a={a} /></td>
                    <td style={{ whiteSpace: "nowrap" }}>{formatLocal(a.started_ms, false)}</td>
                    <td>{fmtDuration((a.resolved_ms || Date.now()) - a.started_ms)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
        </div>
        {selected ? (
          <AlertDetail a={selected} all={alerts || []} role={role} theme={theme} toast={toast}
                       onChanged={() => setReload((n) => n + 1)}
                       onOpen={(q, fromMs, toMs) => nav({ view: "discover", q, ctx: "", alert: "", ...zoomTo(fromMs, toMs) })} />
        ) : (
          <div class="card"><div class="notice">Select an alert to see its timeline and its series.</div></div>
        )}
      </div>
    </div>
  );
}

function AlertDetail({ a, all, role, theme, toast, onChanged, onOpen }: {
  a: Alert; all: Alert[]; role: string; theme: string; toast: ViewProps["toast"];
  onChanged: () => void; onOpen: (q: string, fromMs: number, toMs: number) => void;
}) {
  const [hist, setHist] = useState<HistogramReply | null>(null);
  const [busy, setBusy] = useState(false);
  const [threshold, setThreshold] = useState<number | null>(null);
  const win = alertWindow(a, Date.now());

  useEffect(() => {
    const ctl = new AbortController();
    setHist(null);
    setThreshold(null);
    api.get<HistogramReply>("/api/v1/histogram", {
      q: a.query, from: isoBound(win.fromMs), to: isoBound(win.toMs), by: "level", size: 10,
    }, ctl.signal)
      .then((h) => !ctl.signal.aborted && setHist(h))
      .catch(() => undefined);
    return () => ctl.abort();
  }, [a.id, a.query]);

  const sameSeries = all.filter((x) => x.series === a.series);
  const bands: Band[] = sameSeries.map((x) => ({
    fromMs: x.started_ms,
    toMs: x.resolved_ms || Date.now(),
    firing: x.id === a.id,
  }));

  const feedback = async (label: string) => {
    setBusy(true);
    try {
      const r = await api.post<{ alert: Alert; series_threshold: number }>(
        `/api/v1/alerts/${a.id}/feedback`, { label });
      setThreshold(r.series_threshold);
      toast(`Marked ${label.replace("_", " ")}; series threshold now ${r.series_threshold.toFixed(0)}`);
      onChanged();
    } catch (e) {
      toast(e instanceof ApiError ? e.reason : String(e), true);
    } finally {
      setBusy(false);
    }
  };

  const events: Array<{ cls: string; at: number; text: string }> = [
    { cls: "fire", at: a.started_ms, text: `fired (${a.kind.replace("_", " ")}, threshold ${a.threshold.toFixed(0)})` },
  ];
  if (a.updated_ms > a.started_ms) events.push({ cls: "", at: a.updated_ms, text: `peak score ${a.score.toFixed(1)}, last ${a.last_score.toFixed(1)}` });
  if (a.resolved_ms) events.push({ cls: "resolve", at: a.resolved_ms, text: "resolved" });
  if (a.label) events.push({ cls: "label", at: a.updated_ms, text: `labelled ${a.label.replace("_", " ")}` });

  return (
    <div class="card" aria-label={`Alert ${a.id}`}>
      <h3>
        Alert {a.id} <span class={`state ${a.state}`}>{a.state}</span>
        <span class="spacer" />
        <button class="btn small" onClick={() => onOpen(a.query, win.fromMs, win.toMs)}>Open in Discover</button>
      </h3>
      <div class="body">
        <dl class="facts">
          <dt>Series</dt><dd class="mono">{a.series}</dd>
          <dt>Query</dt><dd class="mono">{a.query}</dd>
          <dt>Score</dt><dd><Score a={a} /></dd>
          <dt>Windows over</dt><dd>{a.windows}</dd>
          <dt>Label</dt><dd>{a.label ? a.label.replace("_", " ") : "none"}</dd>
          {threshold !== null ? (<><dt>Series threshold</dt><dd data-threshold>{threshold.toFixed(0)}</dd></>) : null}
        </dl>
        <h4 style={{ margin: "12px 0 4px" }}>The series around it</h4>
        {hist ? (
          <Histogram buckets={hist.buckets} intervalMs={hist.interval_ms} fromMs={win.fromMs} toMs={win.toMs}
                     theme={theme} height={150} bands={bands}
                     onZoom={(f, t) => onOpen(a.query, f, t)} />
        ) : <div class="chart" style={{ height: 150 }} />}
        <h4 style={{ margin: "12px 0 4px" }}>Timeline</h4>
        <ul class="timeline">
          {events.map((e, i) => (
            <li key={i} class={e.cls}><span class="mono">{formatLocal(e.at, false)}</span> {e.text}</li>
          ))}
          {sameSeries.length > 1 ? (
            <li>{sameSeries.length - 1} other alert{sameSeries.length > 2 ? "s" : ""} of this series (shaded lighter)</li>
          ) : null}
        </ul>
        {role === "admin" ? (
          <div style={{ display: "flex", gap: "8px", marginTop: "12px" }} aria-label="Feedback">
            <button class="btn" disabled={busy || a.label === "false_positive"} onClick={() => feedback("false_positive")}>
              False positive
            </button>
            <button class="btn" disabled={busy || a.label === "true_positive"} onClick={() => feedback("true_positive")}>
              True positive
            </button>
            <span style={{ color: "var(--muted)", alignSelf: "center", fontSize: "12px" }}>
              A false positive raises this series' threshold.
            </span>
          </div>
        ) : null}
      </div>
    </div>
  );
}
