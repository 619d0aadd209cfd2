// Status: what the daemon holds and takes in, from the existing endpoints:
// readiness (/readyz), tiers (/api/v1/tiers), ingest rates, consumer lag
// and dead letters per source (/metrics), the anomaly scorer
// (/api/v1/anomaly), for admins the store's own report (/api/v1/store),
// and in a cluster every node with its partitions (/api/v1/cluster).
// Refreshed every few seconds while shown.

import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError } from "../lib/api";
import type { ClusterReply } from "../lib/cluster";
import { clusterRows } from "../lib/cluster";
import { fmtBytes, fmtCount, fmtDuration, fmtRate } from "../lib/format";
import type { Metrics } from "../lib/prom";
import { parseMetrics, ratesBy, samples, total } from "../lib/prom";
import { formatLocal } from "../lib/time";
import type { ViewProps } from "./Discover";

const REFRESH_MS = 5000;

interface Tier {
  segments: number;
  docs: number;
  bytes: number;
  min_ts_ms: number | null;
  max_ts_ms: number | null;
  compression_ratio: number | null;
  deleted_docs: number;
  path: string | null;
}

interface TiersReply {
  tiers: Record<string, Tier>;
  merges: Record<string, unknown>;
  retention: Record<string, unknown>;
}

interface Snapshot {
  at: number;
  cluster: ClusterReply | null;
  ready: { status: string; details?: unknown } | null;
  tiers: TiersReply | null;
  metrics: Metrics | null;
  anomaly: Record<string, unknown> | null;
  store: Record<string, unknown> | null;
}

async function readyz(): Promise<{ status: string; details?: unknown }> {
  // /readyz answers 503 while starting: read the body either way.
  const r = await fetch("/readyz", { cache: "no-store" });
  return r.json();
}

export function Status({ role, runKey }: ViewProps) {
  const [snap, setSnap] = useState<Snapshot | null>(null);
  const [prev, setPrev] = useState<Snapshot | null>(null);
  const [error, setError] = useState("");
  const last = useRef<Snapshot | null>(null);

  useEffect(() => {
    let stop = false;
    let timer = 0;
    const tick = async () => {
      setError("");
      const settle = <T,>(p: Promise<T>) => p.catch((e) => {
        if (e instanceof ApiError && e.status === 401) stop = true;
        setError(e instanceof ApiError ? e.reason : String(e));
        return null;
      });
      const [ready, tiers, metricsText, anomaly, store, cluster] = await Promise.all([
        settle(readyz()),
        settle(api.get<TiersReply>("/api/v1/tiers")),
        settle(api.get<string>("/metrics")),
        settle(api.get<Record<string, unknown>>("/api/v1/anomaly")),
        role === "admin" ? settle(api.get<Record<string, unknown>>("/api/v1/store")) : Promise.resolve(null),
        settle(api.get<ClusterReply>("/api/v1/cluster")),
      ]);
      if (stop) return;
      const s: Snapshot = {
        at: Date.now(), ready, tiers, anomaly, store, cluster,
        metrics: typeof metricsText === "string" ? parseMetrics(metricsText) : null,
      };
      setPrev(last.current);
      last.current = s;
      setSnap(s);
      timer = window.setTimeout(tick, REFRESH_MS);
    };
    tick();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, [role, runKey]);

  if (!snap) return <div class="page"><div class="notice">{error || "Loading…"}</div></div>;
  const m = snap.metrics;
  const dt = prev ? snap.at - prev.at : 0;
  const ingestRates = m && prev?.metrics ? ratesBy(prev.metrics, m, "sift_events_ingested_total", "source", dt) : new Map();
  const sources = m ? [...new Set(samples(m, "sift_events_ingested_total").map((s) => s.labels.source))].sort() : [];
  const lag = m ? samples(m, "sift_kafka_consumer_lag").concat(samples(m, "sift_redis_pending")) : [];
  const tiers = snap.tiers ? Object.entries(snap.tiers.tiers) : [];
  const totalDocs = tiers.reduce((a, [, t]) => a + t.docs, 0);
  const totalBytes = tiers.reduce((a, [, t]) => a + t.bytes, 0);

  return (
    <div class="page">
      {error ? <div class="notice error">{error}</div> : null}
      <div class="card">
        <h3>
          Overview
          <span class={snap.ready?.status === "ready" ? "ok" : "bad"} data-ready={snap.ready?.status}>
            {snap.ready?.status || "unknown"}
          </span>
        </h3>
        <div class="body stats">
          <div class="stat"><b>{fmtCount(totalDocs)}</b><span>events stored</span></div>
          <div class="stat"><b>{fmtBytes(totalBytes)}</b><span>in segments</span></div>
          <div class="stat" data-rate={prev ? "1" : undefined}>
            <b>{prev ? fmtRate([...ingestRates.values()].reduce((a, b) => a + b, 0)) : "…"}</b>
            <span>ingest now</span>
          </div>
          <div class="stat"><b>{m ? fmtBytes(total(m, "sift_wal_bytes")) : "-"}</b><span>write-ahead log</span></div>
          <div class="stat"><b>{m ? fmtBytes(total(m, "sift_buffer_bytes")) : "-"}</b><span>buffer (not yet searchable)</span></div>
          <div class="stat"><b>{m ? fmtBytes(total(m, "process_resident_memory_bytes")) : "-"}</b><span>memory (RSS)</span></div>
          <div class="stat"><b>{m ? fmtDuration(total(m, "sift_uptime_seconds") * 1000) : "-"}</b><span>up</span></div>
        </div>
      </div>
      <div class="grid">
        <div class="card">
          <h3>Tiers</h3>
          <table class="list" aria-label="Tiers">
            <thead><tr><th>Tier</th><th class="num">Segments</th><th class="num">Events</th><th class="num">Size</th><th>Oldest</th></tr></thead>
            <tbody>
              {tiers.map(([name, t]) => (
                <tr key={name} data-tier={name}>
                  <td>{name}</td>
                  <td class="num">{fmtCount(t.segments)}</td>
                  <td class="num">{fmtCount(t.docs)}</td>
                  <td class="num">{fmtBytes(t.bytes)}</td>
                  <td>{t.min_ts_ms !== null ? formatLocal(t.min_ts_ms, false) : "-"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <div class="card">
          <h3>Ingest by source</h3>
          {sources.length === 0 ? <div class="notice">Nothing ingested since siftd started.</div> : (
            <table class="list" aria-label="Ingest by source">
              <thead><tr><th>Source</th><th class="num">Rate</th><th class="num">Events</th><th class="num">Rejected</th><th class="num">Dead letters</th></tr></thead>
              <tbody>
                {sources.map((src) => (
                  <tr key={src} data-source={src}>
                    <td>{src}</td>
                    <td class="num">{ingestRates.has(src) ? fmtRate(ingestRates.get(src)) : "…"}</td>
                    <td class="num">{fmtCount(total(m!, "sift_events_ingested_total", "source", src))}</td>
                    <td class="num">{fmtCount(total(m!, "sift_events_rejected_total", "source", src))}</td>
                    <td class="num">{fmtCount(total(m!, "sift_events_dead_lettered_total", "source", src))}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
        <div class="card">
          <h3>Consumer lag</h3>
          {lag.length === 0 ? <div class="notice">No Kafka or Redis source is configured.</div> : (
            <table class="list" aria-label="Consumer lag">
              <thead><tr><th>Source</th><th>Partition</th><th class="num">Behind</th></tr></thead>
              <tbody>
                {lag.map((s, i) => (
                  <tr key={i}><td>{s.labels.source}</td><td>{s.labels.partition || "-"}</td><td class="num">{fmtCount(s.value)}</td></tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
        <div class="card">
          <h3>Anomaly scorer</h3>
          <div class="body stats">
            {snap.anomaly ? (
              <>
                <div class="stat"><b>{fmtCount(Number(snap.anomaly.templates))}</b><span>templates</span></div>
                <div class="stat"><b>{fmtCount(Number(snap.anomaly.alerts_kept))}</b><span>alerts kept</span></div>
                <div class="stat"><b>{fmtCount(Number(snap.anomaly.windows))}</b><span>windows scored</span></div>
                <div class="stat"><b>{fmtCount(Number(snap.anomaly.records_dropped))}</b><span>records dropped</span></div>
              </>
            ) : <span class="notice">-</span>}
          </div>
        </div>
      </div>
      {clusterRows(snap.cluster).length > 0 ? (
        <div class="card">
          <h3>Cluster</h3>
          <table class="list" aria-label="Cluster">
            <thead><tr><th>Node</th><th>Address</th><th>State</th><th class="num">Partitions</th><th class="num">Behind</th><th>Last contact</th></tr></thead>
            <tbody>
              {clusterRows(snap.cluster).map((r) => (
                <tr key={r.key} data-node={r.id}>
                  <td>{r.id}{r.self ? " (this node)" : ""}</td>
                  <td>{r.url}</td>
                  <td class={r.ok ? "ok" : "bad"}>{r.state}</td>
                  <td class="num">{r.partitions !== null ? fmtCount(r.partitions) : "-"}</td>
                  <td class="num">{r.behind !== null ? fmtCount(r.behind) : "-"}</td>
                  <td>{r.lastContactMs !== null ? formatLocal(r.lastContactMs, false) : "-"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {snap.store ? (
        <div class="card">
          <h3>Store (admin)</h3>
          <table class="kv body" aria-label="Store">
            <tbody>
              {flatten(snap.store).map(([k, v]) => (
                <tr key={k}><td class="k">{k}</td><td class="v">{v}</td></tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  );
}

/** /api/v1/store's object as rows: dotted keys, sizes in bytes made readable. */
export function flatten(o: Record<string, unknown>, prefix = ""): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(o)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === "object" && !Array.isArray(v)) out.push(...flatten(v as Record<string, unknown>, key));
    else if (Array.isArray(v)) out.push([key, v.length ? v.map((x) => (typeof x === "object" ? JSON.stringify(x) : String(x))).join(", ") : "none"]);
    else if (typeof v === "number" && key.startsWith("bytes.")) out.push([key, fmtBytes(v)]);
    else out.push([key, typeof v === "number" ? v.toLocaleString("en-US", { maximumFractionDigits: 3 }) : String(v)]);
  }
  return out;
}
