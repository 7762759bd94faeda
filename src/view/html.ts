// The viewer as one HTML file: the page's script (client/, bundled with esbuild when the page is
// made) and its styles inline, the run's data in the page (its JSON gzipped, in base64). It opens
// from disk in any browser and fetches nothing.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { esc } from "./escape.ts";
import { DATA_ELEMENT_ID, DATA_TYPE, type ViewData } from "./view-data.ts";

let script: Promise<string> | undefined;

/** The page's script, bundled once per process (TanStack Virtual and the log readers with it). */
function clientScript(): Promise<string> {
  script ??= build({
    entryPoints: [fileURLToPath(new URL("./client/main.ts", import.meta.url))],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    write: false,
    legalComments: "none",
    logLevel: "silent",
  }).then((result) => result.outputFiles[0]!.text.replace(/<\/script/gi, "<\\/script"));
  return script;
}

const styles = (): string => readFileSync(new URL("./client/viewer.css", import.meta.url), "utf8");

/**
 * The page for a run. The data goes in gzipped and in base64: a browser reads a 100,000-line log's
 * 18 MB of JSON out of the page in 1.5 s, its 2 MB of base64 in a tenth of that, and unzips it
 * natively (DecompressionStream); the file is smaller to pass around too.
 */
export async function viewerHtml(data: ViewData): Promise<string> {
  const header = data.lines.find((line) => line.type === "header");
  const title = header?.type === "header" ? `${header.scenario} (seed ${header.seed})` : data.source;
  const packed = gzipSync(JSON.stringify(data)).toString("base64");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'">
<title>cocomem: ${esc(title)}</title>
<style>${styles()}</style>
</head>
<body>
<header id="summary"></header>
<div id="toolbar">
<label>party <select id="f-party"></select></label>
<label>type <input id="f-type" type="text" placeholder="TDH.MEM, sept, KVM_RUN"></label>
<label>GPA <input id="f-gpa" type="text" placeholder="0x400000 or 4M"></label>
<label><input id="f-effects" type="checkbox" checked> effects</label>
<label>search <input id="f-search" type="text" placeholder="text in the line"></label>
<button id="f-clear" type="button">clear</button>
<span id="shown"></span>
<span class="keys">keys: <kbd>/</kbd> search, <kbd>n</kbd> <kbd>p</kbd> next and previous violation, <kbd>Esc</kbd> clear highlights</span>
</div>
<div id="main">
<div id="scroller"><div id="lane-head"></div><div id="spacer"><div id="rows"></div></div></div>
<aside id="side">
<div id="tabs"><button id="tab-violations" type="button" class="active">violations (<span id="violations-count">0</span>)</button><button id="tab-detail" type="button">details</button></div>
<div id="violations"></div>
<div id="detail" hidden></div>
</aside>
</div>
<script id="${DATA_ELEMENT_ID}" type="${DATA_TYPE}">${packed}</script>
<script type="module">${await clientScript()}</script>
</body>
</html>
`;
}
