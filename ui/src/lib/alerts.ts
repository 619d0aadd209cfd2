// Alerts as the alerts view draws them.

import type { Alert } from "./types";

/** Where an alert's chart starts and ends: its span with room around. */
export function alertWindow(a: Alert, nowMs: number): { fromMs: number; toMs: number } {
  const end = a.resolved_ms || Math.max(a.updated_ms, nowMs);
  const span = Math.max(end - a.started_ms, 60_000);
  return { fromMs: a.started_ms - 3 * span, toMs: Math.min(end + span, Math.max(nowMs, end + 1000)) };
}
