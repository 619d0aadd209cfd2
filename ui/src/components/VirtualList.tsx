// A list that renders only the rows in view (plus a few), so ten thousand
// hits scroll as smoothly as ten.  Rows have one fixed height.

import type { ComponentChildren } from "preact";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";

interface Props<T> {
  items: T[];
  rowHeight: number;
  render: (item: T, index: number, top: number) => ComponentChildren;
  onNearEnd?: () => void; // the user scrolled close to the last row
  className?: string;
  resetKey?: unknown; // scroll back to the top when this changes
}

const OVERSCAN = 12;

export function VirtualList<T>({ items, rowHeight, render, onNearEnd, className, resetKey }: Props<T>) {
  const box = useRef<HTMLDivElement>(null);
  const [top, setTop] = useState(0);
  const [height, setHeight] = useState(600);

  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    setHeight(el.clientHeight || 600);
    const ro = new ResizeObserver(() => setHeight(el.clientHeight || 600));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  useEffect(() => {
    if (box.current) box.current.scrollTop = 0;
    setTop(0);
  }, [resetKey]);

  const first = Math.max(0, Math.floor(top / rowHeight) - OVERSCAN);
  const last = Math.min(items.length, Math.ceil((top + height) / rowHeight) + OVERSCAN);

  useEffect(() => {
    if (onNearEnd && items.length > 0 && last >= items.length - OVERSCAN) onNearEnd();
  }, [last, items.length]);

  const rows: ComponentChildren[] = [];
  for (let i = first; i < last; i++) rows.push(render(items[i], i, i * rowHeight));
  return (
    <div class={className} ref={box} onScroll={(e) => setTop((e.currentTarget as HTMLDivElement).scrollTop)}>
      <div class="hitsinner" style={{ height: items.length * rowHeight }}>{rows}</div>
    </div>
  );
}
