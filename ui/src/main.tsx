// Entry point of siftd's web UI (served under /ui/, see docs/ui.md).
import { render } from "preact";
import "./style.css";
import { App } from "./app";
import { api } from "./lib/api";

// Ask who we are at once, while the first render is built.
const firstWhoami = api.whoami();
firstWhoami.catch(() => undefined); // handled where it is awaited
const root = document.getElementById("app");
if (root) render(<App firstWhoami={firstWhoami} />, root);
