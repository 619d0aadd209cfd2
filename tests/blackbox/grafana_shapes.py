"""What Grafana's toDataFrame() accepts, as assertions.

The simpod-json-datasource plugin does `response.data.map(toDataFrame)` on
the /query reply (grafana/grafana packages/grafana-data/src/dataframe/
processDataFrame.ts).  toDataFrame dispatches on the keys present, in this
order (docs/internals/wire-formats.md 1.7):

  1. has `fields`                 -> data-frame DTO
  2. `type == "docs"`             -> legacy JSON docs (we never send it)
  3. has `datapoints` / `points`  -> timeseries [[value, epoch_ms], ...]
  4. has `data`                   -> DataFrameJSON / legacy graph series
  5. has `columns`                -> table {columns:[{text,type}], rows}
  6. is a list                    -> ArrayDataFrame
  7. otherwise                    -> "Unsupported data format"

check_frame() follows the same order and then checks what each converter
needs for a sane frame (equal field lengths, numeric/ms time values...).
"""
import numbers

FIELD_TYPES = {"time", "number", "string", "boolean", "other", "enum",
               "trace", "frame"}


def _is_num(v):
    return isinstance(v, numbers.Number) and not isinstance(v, bool)


def _is_ms(v):
    # Epoch milliseconds: an integer between 1970 and 2200.
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 7258118400000


def check_frame(f):
    """Asserts f is accepted by toDataFrame; returns its kind."""
    if isinstance(f, dict) and "fields" in f:
        fields = f["fields"]
        assert isinstance(fields, list), f
        n = None
        for fl in fields:
            assert isinstance(fl.get("name"), str), fl
            t = fl.get("type")
            assert t is None or t in FIELD_TYPES, fl
            vals = fl.get("values")
            assert isinstance(vals, list), fl
            n = len(vals) if n is None else n
            assert len(vals) == n, "field %s has %d values, not %d" % (
                fl["name"], len(vals), n)
            for v in vals:
                if t == "time":
                    assert _is_ms(v), (fl["name"], v)
                elif t == "number":
                    assert v is None or _is_num(v), (fl["name"], v)
                elif t == "string":
                    assert v is None or isinstance(v, str), (fl["name"], v)
        if "meta" in f:
            assert isinstance(f["meta"], dict)
        if "refId" in f:
            assert isinstance(f["refId"], str)
        return "frame"
    assert not (isinstance(f, dict) and f.get("type") == "docs"), f
    if isinstance(f, dict) and ("datapoints" in f or "points" in f):
        pts = f.get("datapoints", f.get("points"))
        assert isinstance(pts, list), f
        assert isinstance(f.get("target"), str), f
        last = None
        for p in pts:
            assert isinstance(p, list) and len(p) == 2, p
            assert p[0] is None or _is_num(p[0]), p
            assert _is_ms(p[1]), p
            assert last is None or p[1] > last, "time not ascending: %r" % pts
            last = p[1]
        if "tags" in f:
            assert isinstance(f["tags"], dict)
            assert all(isinstance(v, str) for v in f["tags"].values())
        return "series"
    assert not (isinstance(f, dict) and "data" in f), f
    if isinstance(f, dict) and "columns" in f:
        cols, rows = f["columns"], f.get("rows")
        assert isinstance(cols, list) and isinstance(rows, list), f
        for c in cols:
            assert isinstance(c.get("text"), str), c
        for r in rows:
            assert isinstance(r, list) and len(r) == len(cols), r
            for c, v in zip(cols, r):
                if c.get("type") == "time":
                    assert _is_ms(v), (c, v)
                elif c.get("type") == "number":
                    assert v is None or _is_num(v), (c, v)
        return "table"
    if isinstance(f, list):
        return "array"
    raise AssertionError("Unsupported data format: %r" % (f,))


def check_query_reply(r):
    """A /query reply: 200, JSON, a top-level array of acceptable frames."""
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert isinstance(body, list), "the reply must be a top-level array"
    return [(check_frame(f), f) for f in body]


def check_error(r, status=400):
    """Errors Grafana can show: {"message", "error": {"code", "message"}}."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json")
    j = r.json()
    assert isinstance(j.get("message"), str) and j["message"], j
    assert isinstance(j["error"].get("code"), str) and j["error"]["code"], j
    assert isinstance(j["error"].get("message"), str) and j["error"]["message"], j
    return j


def frame_columns(frame):
    """Table or data frame as {column name: [values]}."""
    if "fields" in frame:
        return {f["name"]: f["values"] for f in frame["fields"]}
    names = [c["text"] for c in frame["columns"]]
    return {n: [row[i] for row in frame["rows"]] for i, n in enumerate(names)}
