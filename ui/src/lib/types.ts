// The shapes of the API's answers the UI reads (docs/query-language.md,
// docs/anomaly.md, docs/lifecycle.md).

export interface Hit {
  time: string;
  ts_ms: number;
  _id: string;
  message: string;
  template_id?: number;
  template?: string;
  fields: Record<string, string | number>;
}

export interface SearchReply {
  hits: Hit[];
  total: { value: number; relation: "eq" | "gte" };
  cursor: string | null;
  took_ms: number;
  timed_out: boolean;
  warnings?: string[]; // how the query was read where its letter does not force it
}

export interface Bucket {
  key: number;
  time: string;
  count: number;
  by?: Record<string, number>;
}

export interface HistogramReply {
  interval_ms: number;
  buckets: Bucket[];
  took_ms: number;
}

export interface TermsReply {
  field: string;
  buckets: Array<{ key: string; count: number }>;
  other: number;
  missing: number;
}

export interface FieldInfo {
  name: string;
  text: boolean;
  keyword: boolean;
  number: boolean;
  cardinality: number;
}

export interface ContextReply {
  anchor: Hit;
  before: Hit[];
  after: Hit[];
  by: string;
  query: string;
  timed_out: boolean;
}

export interface Pattern {
  template_id: number;
  template: string | null;
  count: number;
  first_seen_ms: number;
  last_seen_ms: number;
  sample: string;
}

export interface PatternsReply {
  patterns: Pattern[];
  total: number;
  distinct: number;
}

export interface Alert {
  id: number;
  series: string;
  kind: string;
  state: "firing" | "resolved";
  score: number;
  last_score: number;
  threshold: number;
  started_ms: number;
  updated_ms: number;
  resolved_ms: number;
  windows: number;
  label: string;
  query: string;
}

/** The fields a hit shows in columns, short and ECS names alike. */
export function hitField(h: Hit, ...names: string[]): string {
  for (const n of names) {
    const v = h.fields[n];
    if (v !== undefined && v !== null && v !== "") return String(v);
  }
  return "";
}

export const levelOf = (h: Hit) => hitField(h, "log.level", "level", "severity");
export const serviceOf = (h: Hit) => hitField(h, "service.name", "service", "app");
export const hostOf = (h: Hit) => hitField(h, "host.name", "host", "hostname");
