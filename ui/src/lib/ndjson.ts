import type { Hit } from "./types";

// Splits a byte stream of newline-delimited JSON into lines, whatever the
// chunk boundaries (the live tail's reader).

export class LineSplitter {
  private rest = "";
  private decoder = new TextDecoder();

  /** Feeds a chunk; returns the complete lines it finished. */
  push(chunk: Uint8Array): string[] {
    const text = this.rest + this.decoder.decode(chunk, { stream: true });
    const lines = text.split("\n");
    this.rest = lines.pop() ?? "";
    return lines.filter((l) => l.trim() !== "");
  }

  /** The last line when the stream ended without a newline. */
  end(): string[] {
    const text = this.rest + this.decoder.decode();
    this.rest = "";
    return text.trim() === "" ? [] : [text];
  }
}

/**
 * A bounded list that keeps the newest items first: adding past the cap
 * drops the oldest.  The live tail keeps its lines in one.
 */
export class NewestFirst<T> {
  items: T[] = [];
  dropped = 0;

  constructor(readonly cap: number) {}

  /** Adds items given oldest first; returns the list (a new array). */
  add(batch: T[]): T[] {
    if (batch.length === 0) return this.items;
    const next = batch.slice().reverse().concat(this.items);
    if (next.length > this.cap) {
      this.dropped += next.length - this.cap;
      next.length = this.cap;
    }
    this.items = next;
    return next;
  }

  clear(): void {
    this.items = [];
    this.dropped = 0;
  }
}

/** A line of the tail: a hit, or a note that lines were lost. */
export type TailLine = Hit | { gap: number; _id: string };

/** Reads one NDJSON line of the tail; null for lines to ignore (heartbeats). */
export function parseTailLine(line: string, seq: number): TailLine | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (!v || typeof v !== "object") return null;
  const o = v as Record<string, unknown>;
  if (typeof o.gap === "number") return { gap: o.gap, _id: `gap-${seq}` };
  if (typeof o.message === "string" && typeof o.ts_ms === "number") {
    const h = o as unknown as Hit;
    if (!h.fields) h.fields = {};
    if (!h._id) h._id = `line-${seq}`;
    return h;
  }
  return null;
}
