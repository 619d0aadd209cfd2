import type { Bucket } from "./types";

// Log levels as they come (error, ERR, warning, Notice, ...) grouped into
// the few the histogram stacks and the hits list colours.

export type LevelGroup = "error" | "warn" | "info" | "debug" | "trace" | "other" | "none";

const GROUPS: Record<string, LevelGroup> = {
  emerg: "error", emergency: "error", alert: "error", crit: "error", critical: "error",
  fatal: "error", panic: "error", severe: "error", err: "error", error: "error",
  warn: "warn", warning: "warn",
  notice: "info", info: "info", informational: "info", information: "info",
  debug: "debug", fine: "debug", dbg: "debug",
  trace: "trace", finer: "trace", finest: "trace", verbose: "trace",
};

/** The group of a level value ("" or undefined: none). */
export function levelGroup(level: string | undefined | null): LevelGroup {
  if (level === undefined || level === null || level === "") return "none";
  return GROUPS[level.toLowerCase()] || "other";
}

/** Stacking order of the histogram, bottom first. */
export const GROUP_ORDER: LevelGroup[] = ["error", "warn", "info", "debug", "trace", "other", "none"];

export const GROUP_LABEL: Record<LevelGroup, string> = {
  error: "error", warn: "warn", info: "info", debug: "debug", trace: "trace",
  other: "other", none: "no level",
};

export interface Stack {
  groups: LevelGroup[]; // present groups, bottom first
  counts: Record<string, number[]>; // group -> per bucket
}

/** Splits each bucket's `by` counts into level groups; the rest is "none". */
export function stackByLevel(buckets: Bucket[], split: boolean): Stack {
  const counts: Record<string, number[]> = {};
  const add = (g: string, i: number, n: number) => {
    if (!counts[g]) counts[g] = new Array(buckets.length).fill(0);
    counts[g][i] += n;
  };
  buckets.forEach((b, i) => {
    let rest = b.count;
    if (split && b.by) {
      for (const [k, n] of Object.entries(b.by)) {
        add(k === "_other" ? "other" : levelGroup(k), i, n);
        rest -= n;
      }
    }
    if (rest > 0) add(split ? "none" : "all", i, rest);
  });
  const groups = split
    ? GROUP_ORDER.filter((g) => counts[g] && counts[g].some((n) => n > 0))
    : (["all"] as unknown as LevelGroup[]);
  if (!split && !counts.all) counts.all = new Array(buckets.length).fill(0);
  return { groups, counts };
}
