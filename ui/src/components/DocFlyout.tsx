// The details of one event: its fields as a table (filter in/out from
// here too) or as JSON with a copy button; the events around it; its
// template.  Esc closes it.

import { useEffect, useState } from "preact/hooks";
import { formatLocal } from "../lib/time";
import type { Hit } from "../lib/types";
import { levelOf } from "../lib/types";
import { IconClose, IconContext, IconCopy, IconFilter, IconMinus, IconPlus } from "./icons";
import { LevelBadge } from "./Row";

interface Props {
  hit: Hit;
  onClose: () => void;
  onFilter: (field: string, value: string, negate: boolean) => void;
  onContext: (h: Hit) => void;
  onTemplate: (id: number) => void;
  toast: (msg: string) => void;
}

/** The event as JSON, as the API sent it. */
export function hitJson(h: Hit): string {
  return JSON.stringify(h, null, 2);
}

async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    /* fall back below */
  }
  const ta = document.createElement("textarea");
  ta.value = text;
  ta.style.position = "fixed";
  ta.style.opacity = "0";
  document.body.appendChild(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  ta.remove();
  return ok;
}

export function DocFlyout({ hit, onClose, onFilter, onContext, onTemplate, toast }: Props) {
  const [tab, setTab] = useState<"table" | "json">("table");

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") onClose();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);

  const rows: Array<[string, string]> = [
    ["@timestamp", hit.time],
    ["message", hit.message],
    ...Object.entries(hit.fields).map(([k, v]) => [k, String(v)] as [string, string]),
  ];
  if (hit.template_id) rows.push(["_template_id", String(hit.template_id)]);
  if (hit.template) rows.push(["template", hit.template]);
  rows.push(["_id", hit._id]);

  return (
    <section class="flyout" role="dialog" aria-label="Event details">
      <div class="flyhead">
        <LevelBadge level={levelOf(hit)} />
        <h2>{formatLocal(hit.ts_ms)}</h2>
        <button class="btn icon" aria-label="Close details" title="Close (Esc)" onClick={onClose}>
          <IconClose />
        </button>
      </div>
      <div class="flyactions">
        <button class="btn small" onClick={() => onContext(hit)}>
          <IconContext /> Surrounding events
        </button>
        {hit.template_id ? (
          <button class="btn small" onClick={() => onTemplate(hit.template_id!)}>
            <IconFilter /> Same pattern
          </button>
        ) : null}
        <button class="btn small" onClick={async () => toast((await copyText(hitJson(hit))) ? "Copied the event as JSON" : "Copy failed")}>
          <IconCopy /> Copy JSON
        </button>
      </div>
      <div class="flytabs">
        <button class={"tab" + (tab === "table" ? " active" : "")} onClick={() => setTab("table")}>Table</button>
        <button class={"tab" + (tab === "json" ? " active" : "")} onClick={() => setTab("json")}>JSON</button>
      </div>
      <div class="flybody">
        {tab === "table" ? (
          <table class="kv">
            <tbody>
              {rows.map(([k, v]) => {
                const filterable = k !== "@timestamp" && k !== "_id" && k !== "template" && k !== "message";
                return (
                  <tr key={k}>
                    <td class="a">
                      {filterable ? (
                        <>
                          <button class="mini" aria-label={`Filter for ${k}`} title="Filter for value"
                                  onClick={() => onFilter(k, v, false)}><IconPlus /></button>
                          <button class="mini" aria-label={`Filter out ${k}`} title="Filter out value"
                                  onClick={() => onFilter(k, v, true)}><IconMinus /></button>
                        </>
                      ) : null}
                    </td>
                    <td class="k">{k}</td>
                    <td class="v">{v}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        ) : (
          <pre class="json" data-json>{hitJson(hit)}</pre>
        )}
      </div>
    </section>
  );
}
