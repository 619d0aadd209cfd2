// Browser storage that may be missing or full (private modes): every call
// is guarded, and losing what it holds is never an error.

export function loadLocal(key: string): string | null {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null;
  }
}

export function saveLocal(key: string, value: string | null): void {
  try {
    if (value === null) window.localStorage.removeItem(key);
    else window.localStorage.setItem(key, value);
  } catch {
    /* storage unavailable: the setting lasts for this page only */
  }
}

export function loadSession(key: string): string | null {
  try {
    return window.sessionStorage.getItem(key);
  } catch {
    return null;
  }
}

export function saveSession(key: string, value: string | null): void {
  try {
    if (value === null) window.sessionStorage.removeItem(key);
    else window.sessionStorage.setItem(key, value);
  } catch {
    /* storage unavailable: the token lasts for this page only */
  }
}

const HISTORY_KEY = "sift.history";
export const HISTORY_MAX = 30;

/** Past queries, newest first. */
export function loadHistory(): string[] {
  try {
    const v = JSON.parse(loadLocal(HISTORY_KEY) || "[]");
    return Array.isArray(v) ? v.filter((x) => typeof x === "string").slice(0, HISTORY_MAX) : [];
  } catch {
    return [];
  }
}

/** Puts q first in a history list (no blanks, no repeats, bounded). */
export function pushHistory(list: string[], q: string): string[] {
  const t = q.trim();
  if (t === "") return list;
  return [t, ...list.filter((x) => x !== t)].slice(0, HISTORY_MAX);
}

export function saveHistory(list: string[]): void {
  saveLocal(HISTORY_KEY, JSON.stringify(list));
}
