// The query bar: the sift query language, Enter to search, parse errors
// shown at their position, and the history of past queries (newest first).

import type { Ref } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { ApiError } from "../lib/api";

interface Props {
  value: string;
  onInput: (v: string) => void;
  onSubmit: (v: string) => void;
  error: ApiError | null;
  history: string[];
  inputRef: Ref<HTMLInputElement>;
  placeholder?: string;
}

export function QueryBar({ value, onInput, onSubmit, error, history, inputRef, placeholder }: Props) {
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(-1);
  const shown = history.filter((h) => h !== value && (value === "" || h.includes(value))).slice(0, 12);

  useEffect(() => setActive(-1), [value, open]);

  // Put the cursor where the parser stopped.
  useEffect(() => {
    const el = (inputRef as { current: HTMLInputElement | null }).current;
    if (el && error && error.position !== null && document.activeElement === el) {
      const p = Math.min(error.position, el.value.length);
      el.setSelectionRange(p, p);
    }
  }, [error]);

  const submit = (v: string) => {
    setOpen(false);
    onSubmit(v);
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === "Enter") {
      e.preventDefault();
      if (open && active >= 0 && active < shown.length) {
        onInput(shown[active]);
        submit(shown[active]);
      } else {
        submit(value);
      }
    } else if (e.key === "ArrowDown") {
      e.preventDefault();
      if (!open) setOpen(true);
      else setActive((a) => Math.min(shown.length - 1, a + 1));
    } else if (e.key === "ArrowUp" && open) {
      e.preventDefault();
      setActive((a) => Math.max(-1, a - 1));
    } else if (e.key === "Escape" && open) {
      e.stopPropagation();
      setOpen(false);
    }
  };

  const pos = error && error.position !== null ? Math.min(error.position, value.length) : null;
  return (
    <div class={"querybox" + (error ? " bad" : "")}>
      <input
        ref={inputRef}
        class="input"
        type="text"
        spellcheck={false}
        autocomplete="off"
        aria-label="Query"
        placeholder={placeholder || 'Search: words, "phrases", field:value, AND OR NOT …  (press / to focus)'}
        value={value}
        onInput={(e) => onInput((e.currentTarget as HTMLInputElement).value)}
        onKeyDown={onKeyDown}
        onFocus={() => value === "" && history.length > 0 && setOpen(true)}
        onBlur={() => setTimeout(() => setOpen(false), 150)}
      />
      {open && shown.length > 0 ? (
        <div class="dropdown" role="listbox" aria-label="Query history">
          <h4>Recent queries</h4>
          {shown.map((h, i) => (
            <button key={h} class={"item mono" + (i === active ? " active" : "")}
                    onMouseDown={(e) => e.preventDefault()}
                    onClick={() => {
                      onInput(h);
                      submit(h);
                    }}>
              {h}
            </button>
          ))}
        </div>
      ) : null}
      {error ? (
        <div class="qerror" role="alert">
          {error.reason}
          {pos !== null ? (
            <pre>
              {value.slice(0, pos)}
              <span class="caret">{value[pos] && value[pos] !== " " ? value[pos] : "\u00a0"}</span>
              {value.slice(pos + 1)}
            </pre>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}
