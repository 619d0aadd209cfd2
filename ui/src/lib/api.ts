// The HTTP API as the UI calls it: the token (kept in sessionStorage) as a
// Bearer header, JSON errors turned into ApiError, at most a few requests
// in flight (siftd bounds concurrent queries), and NDJSON streams.

import { loadSession, saveSession } from "./storage";

const TOKEN_KEY = "sift.token";
const MAX_IN_FLIGHT = 4;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly reason: string,
    readonly position: number | null = null,
  ) {
    super(reason);
  }
}

export type Params = Record<string, string | number | undefined | null>;

export interface Whoami {
  authenticated: boolean;
  role: "reader" | "writer" | "admin" | null;
  principal: string;
  tokens_configured: boolean;
  reason?: string;
}

export function query(params: Params): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    p.set(k, String(v));
  }
  const s = p.toString();
  return s ? "?" + s : "";
}

export class Api {
  private inFlight = 0;
  private waiting: Array<() => void> = [];
  /** Called on a 401 (token missing, wrong, or revoked by a reload). */
  onUnauthorized: (reason: string) => void = () => {};

  constructor(readonly base = "") {}

  get token(): string | null {
    return loadSession(TOKEN_KEY);
  }

  set token(t: string | null) {
    saveSession(TOKEN_KEY, t);
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = { ...extra };
    const t = this.token;
    if (t) h.Authorization = "Bearer " + t;
    return h;
  }

  private async slot(): Promise<void> {
    if (this.inFlight < MAX_IN_FLIGHT) {
      this.inFlight++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.inFlight++;
  }

  private release(): void {
    this.inFlight--;
    const next = this.waiting.shift();
    if (next) next();
  }

  private async fail(r: Response): Promise<never> {
    let type = "http_" + r.status;
    let reason = r.statusText || "request failed";
    let position: number | null = null;
    try {
      const j = await r.json();
      if (j && j.error) {
        type = j.error.type || type;
        reason = j.error.reason || reason;
        if (typeof j.error.position === "number") position = j.error.position;
      }
    } catch {
      /* not JSON: keep the status text */
    }
    if (r.status === 401) this.onUnauthorized(reason);
    throw new ApiError(r.status, type, reason, position);
  }

  async request<T>(method: string, path: string, params: Params = {}, body?: unknown,
                   signal?: AbortSignal): Promise<T> {
    await this.slot();
    try {
      const init: RequestInit = { method, headers: this.headers(), signal, cache: "no-store" };
      if (body !== undefined) {
        init.headers = this.headers({ "Content-Type": "application/json" });
        init.body = JSON.stringify(body);
      }
      const r = await fetch(this.base + path + query(params), init);
      if (!r.ok) return await this.fail(r);
      const ct = r.headers.get("Content-Type") || "";
      return (ct.includes("json") ? await r.json() : await r.text()) as T;
    } finally {
      this.release();
    }
  }

  get<T>(path: string, params: Params = {}, signal?: AbortSignal): Promise<T> {
    return this.request<T>("GET", path, params, undefined, signal);
  }

  post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    return this.request<T>("POST", path, {}, body, signal);
  }

  /** What the current token is worth (never fails on a bad token). */
  whoami(): Promise<Whoami> {
    return this.get<Whoami>("/api/v1/whoami");
  }

  /**
   * Opens an NDJSON stream (tail, export) outside the request slots; calls
   * onOpen once the server has answered (the stream is set up), then
   * onChunk with each chunk of bytes until the stream ends or signal aborts.
   */
  async stream(path: string, params: Params, onChunk: (b: Uint8Array) => void,
               signal: AbortSignal, onOpen?: () => void): Promise<void> {
    const r = await fetch(this.base + path + query(params), {
      headers: this.headers(),
      signal,
      cache: "no-store",
    });
    if (!r.ok) await this.fail(r);
    if (onOpen) onOpen();
    if (!r.body) return;
    const reader = r.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      if (value) onChunk(value);
    }
  }
}

export const api = new Api();
