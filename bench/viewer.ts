// The viewer on a 100,000-line log: how long `cocomem view` takes to write the page, how big the
// page is, and how long Chromium takes from opening the file to a drawn page that answers input
// (the bound: 2 s on this machine). Debian's chromium must be installed (.ci/run does);
// without it the rows say so.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { viewCommand } from "../src/cli/view-command.ts";
import { runScenario } from "../src/run/run.ts";
import { CHROMIUM, launch, openViewer } from "../test/view/browser.ts";
import { acceptScenario } from "./model.ts";
import { progress, type Row, type Section, show } from "./report.ts";

const TARGET_READY_MS = 2000;
const OPENS = 5;

export async function viewer(): Promise<Section> {
  const dir = mkdtempSync(join(tmpdir(), "cocomem-bench-view-"));
  try {
    const log = join(dir, "run.jsonl");
    // 3,300 pages accepted one 4K page at a time: about 102,000 lines.
    const report = await runScenario(acceptScenario("16M", "13200K", "4K", "4K"), {
      keepLog: false,
      logFile: log,
    });
    if (report.unmet.length > 0) throw new Error(`bench viewer scenario: ${report.unmet.join("; ")}`);
    progress("cocomem view on a 100,000-line log");
    const html = join(dir, "run.html");
    const t0 = performance.now();
    const code = await viewCommand([log, "--out", html], {
      out: () => {},
      err: (t) => process.stderr.write(t),
    });
    const makeMs = performance.now() - t0;
    if (code !== 0) throw new Error(`cocomem view exited ${code}`);
    const rows: Row[] = [
      {
        metric: `cocomem view: write the page of a ${show.count(lineCount(log), "line")} log`,
        value: makeMs,
        unit: "ms",
        shown: show.ms(makeMs),
      },
      {
        metric: "the page's size",
        value: statSync(html).size,
        unit: "B",
        shown: show.bytes(statSync(html).size),
      },
    ];
    if (!existsSync(CHROMIUM)) {
      rows.push({
        metric: `Chromium: usable (no browser at ${CHROMIUM})`,
        value: 0,
        unit: "ms",
        shown: "skipped",
      });
      return { title: "Viewer", rows };
    }
    progress(`opening it in Chromium ${OPENS} times`);
    const browser = await launch();
    const samples: number[] = [];
    try {
      for (let i = 0; i < OPENS; i++) {
        const { page } = await openViewer(browser, html);
        // performance.now() when the page was drawn: milliseconds since the file began to load.
        samples.push(Number(await page.evaluate(() => document.body.dataset.ready)));
        await page.close();
      }
    } finally {
      await browser.close();
    }
    const median = samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;
    rows.push({
      metric: `Chromium: open to usable, median of ${OPENS}`,
      value: median,
      unit: "ms",
      shown: show.ms(median),
      target: `<= ${show.ms(TARGET_READY_MS)}`,
      status: median <= TARGET_READY_MS ? "PASS" : "ABOVE",
      samples,
    });
    return { title: "Viewer", rows };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const lineCount = (file: string): number => readFileSync(file, "utf8").split("\n").length - 1;
