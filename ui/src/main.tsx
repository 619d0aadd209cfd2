// Entry point of siftd's web UI (served under /ui/, see docs/ui.md).
import { render } from "preact";
import "./style.css";
import { App } from "./app";

const root = document.getElementById("app");
if (root) render(<App />, root);
