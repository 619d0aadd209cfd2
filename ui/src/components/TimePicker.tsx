// The time picker: quick relative ranges, absolute from/to (RFC 3339,
// epoch ms or now-15m), and zoom out.

import { useEffect, useState } from "preact/hooks";
import type { Range } from "../lib/time";
import { QUICK_RANGES, rangeError, rangeLabel, zoomOut } from "../lib/time";
import { IconClock, IconZoomOut } from "./icons";

interface Props {
  range: Range;
  onChange: (r: Range) => void;
}

export function TimePicker({ range, onChange }: Props) {
  const [open, setOpen] = useState(false);
  const [from, setFrom] = useState(range.from);
  const [to, setTo] = useState(range.to);
  const [err, setErr] = useState("");

  useEffect(() => {
    setFrom(range.from);
    setTo(range.to);
    setErr("");
  }, [range.from, range.to, open]);

  useEffect(() => {
    if (!open) return undefined;
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && setOpen(false);
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [open]);

  const apply = () => {
    const r = { from: from.trim(), to: to.trim() };
    const e = rangeError(r, Date.now());
    if (e) {
      setErr(e);
      return;
    }
    setOpen(false);
    onChange(r);
  };

  return (
    <div class="timepicker">
      <button class="btn" aria-label="Time range" aria-expanded={open} onClick={() => setOpen(!open)}>
        <IconClock /> {rangeLabel(range, Date.now())}
      </button>
      <button class="btn icon" title="Zoom out (twice the range)" aria-label="Zoom out"
              onClick={() => onChange(zoomOut(range, Date.now()))}>
        <IconZoomOut />
      </button>
      {open ? (
        <div class="dropdown" role="dialog" aria-label="Choose a time range">
          <h4>Quick ranges</h4>
          <div class="quick">
            {QUICK_RANGES.map(([f, label]) => (
              <button key={f} class={"item" + (range.from === f && range.to === "now" ? " active" : "")}
                      onClick={() => {
                        setOpen(false);
                        onChange({ from: f, to: "now" });
                      }}>
                {label}
              </button>
            ))}
          </div>
          <h4>Absolute or relative</h4>
          <div class="absolute">
            <label for="tp-from">From</label>
            <input id="tp-from" class="input" value={from} spellcheck={false}
                   placeholder="2024-05-01T10:00:00Z or now-1h"
                   onInput={(e) => setFrom((e.currentTarget as HTMLInputElement).value)}
                   onKeyDown={(e) => e.key === "Enter" && apply()} />
            <label for="tp-to">To</label>
            <input id="tp-to" class="input" value={to} spellcheck={false} placeholder="now"
                   onInput={(e) => setTo((e.currentTarget as HTMLInputElement).value)}
                   onKeyDown={(e) => e.key === "Enter" && apply()} />
          </div>
          <div class="pickerfoot">
            <span class="err">{err}</span>
            <button class="btn primary small" onClick={apply}>Apply</button>
          </div>
        </div>
      ) : null}
    </div>
  );
}
