// The histogram of a range: bars stacked by log level (uPlot), drag across
// it (or click one bar) to zoom in, hover for the counts.  Also draws the
// shaded spans of alerts on an alert's series.

import { useLayoutEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { fmtCount } from "../lib/format";
import type { LevelGroup } from "../lib/levels";
import { GROUP_LABEL, stackByLevel } from "../lib/levels";
import { formatLocal } from "../lib/time";
import type { Bucket } from "../lib/types";

export interface Band {
  fromMs: number;
  toMs: number;
  firing: boolean;
}

interface Props {
  buckets: Bucket[];
  intervalMs: number;
  fromMs: number;
  toMs: number;
  theme: string;
  height?: number;
  onZoom?: (fromMs: number, toMs: number) => void;
  bands?: Band[];
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

export function levelColor(g: string): string {
  return g === "all" ? cssVar("--accent") : cssVar(`--lvl-${g}`);
}

export function Histogram({ buckets, intervalMs, fromMs, toMs, theme, height = 130, onZoom, bands }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const tip = useRef<HTMLDivElement>(null);
  const zoomRef = useRef(onZoom);
  zoomRef.current = onZoom;

  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const split = buckets.some((b) => b.by !== undefined);
    const stack = stackByLevel(buckets, split);
    const xs = buckets.map((b) => b.key);
    // Cumulative series, drawn top of the stack first so lower ones show.
    const cum: number[][] = [];
    let acc = new Array(buckets.length).fill(0);
    for (const g of stack.groups) {
      acc = acc.map((v, i) => v + stack.counts[g][i]);
      cum.push(acc);
    }
    const order = stack.groups.map((g, k) => ({ g, data: cum[k] })).reverse();
    const muted = cssVar("--muted");
    const grid = cssVar("--border");
    const bars = uPlot.paths.bars!({ size: [0.92, 64], align: 1, gap: 1 });
    let selectedAt = 0;
    const opts: uPlot.Options = {
      width: el.clientWidth || 600,
      height,
      ms: 1,
      legend: { show: false },
      padding: [6, 8, 0, 4],
      cursor: {
        drag: { x: Boolean(zoomRef.current), y: false, setScale: false },
        points: { show: false },
        y: false,
      },
      scales: {
        x: { time: true, range: () => [fromMs, toMs] },
        y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.08 : 1] },
      },
      axes: [
        { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } },
        {
          stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { show: false }, size: 44,
          values: (_u, vals) => vals.map((v) => (v >= 10000 ? `${Math.round(v / 1000)}k` : fmtCount(v))),
        },
      ],
      series: [
        {},
        ...order.map(({ g }) => ({
          label: GROUP_LABEL[g as LevelGroup] || "events",
          fill: levelColor(g),
          stroke: levelColor(g),
          width: 0,
          paths: bars,
          points: { show: false },
        })),
      ],
      hooks: {
        drawClear: [
          (u) => {
            if (!bands || bands.length === 0) return;
            const ctx = u.ctx;
            ctx.save();
            for (const b of bands) {
              const x0 = u.valToPos(Math.max(b.fromMs, fromMs), "x", true);
              const x1 = u.valToPos(Math.min(b.toMs, toMs), "x", true);
              if (x1 <= x0) continue;
              ctx.fillStyle = b.firing ? "rgba(224, 83, 61, 0.22)" : "rgba(224, 83, 61, 0.12)";
              ctx.fillRect(x0, u.bbox.top, Math.max(2, x1 - x0), u.bbox.height);
            }
            ctx.restore();
          },
        ],
        setSelect: [
          (u) => {
            const w = u.select.width;
            if (w > 3 && zoomRef.current) {
              const a = u.posToVal(u.select.left, "x");
              const b = u.posToVal(u.select.left + w, "x");
              selectedAt = performance.now();
              zoomRef.current(a, b);
            }
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          },
        ],
        setCursor: [
          (u) => {
            const t = tip.current;
            if (!t) return;
            const i = u.cursor.idx;
            if (i === null || i === undefined || u.cursor.left === undefined || u.cursor.left < 0) {
              t.style.display = "none";
              return;
            }
            const lines = stack.groups
              .filter((g) => stack.counts[g][i] > 0)
              .reverse()
              .map((g) => `<div><i style="background:${levelColor(g)}"></i>${GROUP_LABEL[g] || "events"}: <b>${fmtCount(stack.counts[g][i])}</b></div>`);
            const total = buckets[i] ? buckets[i].count : 0;
            t.innerHTML = `<div><b>${formatLocal(xs[i], false)}</b></div><div>${fmtCount(total)} events</div>${lines.join("")}`;
            t.style.display = "block";
            const left = (u.cursor.left || 0) + u.over.offsetLeft;
            const room = el.clientWidth - left;
            t.style.left = (room < 180 ? left - t.offsetWidth - 12 : left + 12) + "px";
            t.style.top = "8px";
          },
        ],
      },
    };
    const data: uPlot.AlignedData = [xs, ...order.map((o) => o.data)];
    const plot = new uPlot(opts, data, el);
    const onClick = () => {
      if (!zoomRef.current || performance.now() - selectedAt < 400) return;
      const i = plot.cursor.idx;
      if (i === null || i === undefined || !buckets[i]) return;
      zoomRef.current(buckets[i].key, buckets[i].key + intervalMs);
    };
    plot.over.addEventListener("click", onClick);
    const onLeave = () => tip.current && (tip.current.style.display = "none");
    plot.over.addEventListener("mouseleave", onLeave);
    const ro = new ResizeObserver(() => plot.setSize({ width: el.clientWidth || 600, height }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.over.removeEventListener("click", onClick);
      plot.destroy();
    };
  }, [buckets, intervalMs, fromMs, toMs, theme, height, bands]);

  return (
    <div class="chart" style={{ height }}>
      <div ref={box} style={{ position: "absolute", inset: 0 }} />
      <div ref={tip} class="charttip" style={{ display: "none" }} />
    </div>
  );
}
