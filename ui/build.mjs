// Builds siftd's web UI from src/ into dist/, which is committed and
// compiled into siftd (ui/embed_assets.c), so building siftd needs no Node.
//
//   node build.mjs           build dist/ (index.html, assets/app-HASH.js|css,
//                            LICENSES.txt) and print its gzip'd size
//   node build.mjs --check   type-check, build in memory, and fail when the
//                            result differs from the committed dist/ or is
//                            over the size budget
//   node build.mjs --unit    run the unit tests of the UI's own logic
//                            (test/*.test.ts, node's test runner)
//
// The build is deterministic: esbuild's output depends only on the sources
// and the versions pinned by package-lock.json, file names carry a hash of
// their content, and index.html is written from src/index.html with those
// names.  scripts/ui.sh wraps these commands with `npm ci`.
import * as esbuild from "esbuild";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

const ui = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(ui, "dist");
const BUDGET_GZIP_BYTES = 250 * 1024;
const mode = process.argv[2] || "--build";

function bundleOptions(write) {
  return {
    absWorkingDir: ui,
    entryPoints: ["src/main.tsx"],
    bundle: true,
    minify: true,
    format: "esm",
    target: ["es2020"],
    jsx: "automatic",
    jsxImportSource: "preact",
    outdir: "dist/assets",
    entryNames: "app-[hash]",
    assetNames: "[name]-[hash]",
    charset: "utf8",
    legalComments: "none", // the licenses are in LICENSES.txt
    metafile: true,
    write,
    logLevel: "warning",
  };
}

// The third-party licenses shipped with the bundle.
function licenses() {
  const parts = ["Third-party software in siftd's web UI\n"];
  for (const pkg of ["preact", "uplot"]) {
    const dir = path.join(ui, "node_modules", pkg);
    const meta = JSON.parse(fs.readFileSync(path.join(dir, "package.json")));
    const text = fs.readFileSync(path.join(dir, "LICENSE"), "utf8").trim();
    parts.push(`\n== ${meta.name} ${meta.version} (${meta.license}) ==\n\n${text}\n`);
  }
  return parts.join("");
}

// Builds in memory: a map from path relative to dist/ to its bytes.
async function buildFiles() {
  const result = await esbuild.build(bundleOptions(false));
  const files = new Map();
  let js = null;
  let css = null;
  for (const f of result.outputFiles) {
    const rel = path.relative(dist, f.path).split(path.sep).join("/");
    files.set(rel, Buffer.from(f.contents));
    if (rel.endsWith(".js")) js = rel;
    if (rel.endsWith(".css")) css = rel;
  }
  if (!js || !css) throw new Error("the bundle has no .js or no .css output");
  const tpl = fs.readFileSync(path.join(ui, "src", "index.html"), "utf8");
  const html = tpl.replace("%APP_JS%", "./" + js).replace("%APP_CSS%", "./" + css);
  if (html.includes("%APP_")) throw new Error("src/index.html: placeholder left");
  files.set("index.html", Buffer.from(html));
  files.set("LICENSES.txt", Buffer.from(licenses()));
  return files;
}

function listDist() {
  const out = new Map();
  if (!fs.existsSync(dist)) return out;
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(path.relative(dist, p).split(path.sep).join("/"), fs.readFileSync(p));
    }
  };
  walk(dist);
  return out;
}

function gzipTotal(files) {
  let n = 0;
  for (const b of files.values()) n += zlib.gzipSync(b, { level: 9 }).length;
  return n;
}

function report(files) {
  const gz = gzipTotal(files);
  const raw = [...files.values()].reduce((a, b) => a + b.length, 0);
  console.log(`ui: ${files.size} files, ${(raw / 1024).toFixed(1)} KiB, ` +
              `${(gz / 1024).toFixed(1)} KiB gzip (budget ${BUDGET_GZIP_BYTES / 1024} KiB)`);
  if (gz > BUDGET_GZIP_BYTES) {
    console.error("ui: the bundle is over its gzip budget");
    return false;
  }
  return true;
}

function typecheck() {
  const tsc = path.join(ui, "node_modules", "typescript", "bin", "tsc");
  const r = spawnSync(process.execPath, [tsc, "--noEmit", "-p", ui], { stdio: "inherit" });
  return r.status === 0;
}

async function build() {
  const files = await buildFiles();
  fs.rmSync(dist, { recursive: true, force: true });
  for (const [rel, bytes] of files) {
    const p = path.join(dist, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, bytes);
  }
  return report(files);
}

async function check() {
  if (!typecheck()) {
    console.error("ui: type errors");
    return false;
  }
  const want = await buildFiles();
  const have = listDist();
  const diffs = [];
  for (const [rel, bytes] of want)
    if (!have.has(rel)) diffs.push(`missing in dist/: ${rel}`);
    else if (!have.get(rel).equals(bytes)) diffs.push(`differs: ${rel}`);
  for (const rel of have.keys()) if (!want.has(rel)) diffs.push(`stale in dist/: ${rel}`);
  if (diffs.length) {
    console.error("ui: the committed bundle is not what the sources build:\n  " +
                  diffs.join("\n  ") + "\nrun scripts/ui.sh build and commit ui/dist");
    return false;
  }
  console.log("ui: dist/ matches the sources");
  return report(want);
}

async function unit() {
  const tests = fs.readdirSync(path.join(ui, "test")).filter((f) => f.endsWith(".test.ts"));
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "sift-ui-unit-"));
  try {
    await esbuild.build({
      absWorkingDir: ui,
      entryPoints: tests.map((t) => "test/" + t),
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node18",
      jsx: "automatic",
      jsxImportSource: "preact",
      outdir: out,
      outExtension: { ".js": ".mjs" },
      external: ["node:*"],
      logLevel: "warning",
    });
    const files = fs.readdirSync(out).filter((f) => f.endsWith(".mjs")).map((f) => path.join(out, f));
    const r = spawnSync(process.execPath, ["--test", ...files], { stdio: "inherit" });
    return r.status === 0;
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

const run = { "--build": build, "--check": check, "--unit": unit }[mode];
if (!run) {
  console.error("usage: node build.mjs [--check|--unit]");
  process.exit(2);
}
run().then((ok) => process.exit(ok ? 0 : 1), (e) => {
  console.error(e.message || e);
  process.exit(1);
});
