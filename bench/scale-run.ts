// One scattered-pages run, in a process of its own so its peak RSS is its own: `node --import tsx
// bench/scale-run.ts PAGES` prints one JSON line (see ScaleRun in scale.ts).
import { runScenario } from "../src/run/run.ts";
import { type ScaleRun, scatteredScenario } from "./scale.ts";

const pages = Number(process.argv[2]);
if (!Number.isInteger(pages) || pages <= 0) throw new Error("usage: scale-run.ts PAGES");

const t0 = performance.now();
const scenario = scatteredScenario(pages);
const t1 = performance.now();
const cpu0 = process.cpuUsage();
// Each page is ~26 deliveries; leave room above the default step limit for a million pages.
const report = await runScenario(scenario, { keepLog: false, maxSteps: 100 * pages + 1_000_000 });
const t2 = performance.now();
const cpu = process.cpuUsage(cpu0);
if (report.unmet.length > 0) throw new Error(`scale run of ${pages} pages: ${report.unmet.join("; ")}`);
const run: ScaleRun = {
  pages,
  steps: report.result.steps,
  defineMs: t1 - t0,
  runMs: t2 - t1,
  cpuMs: (cpu.user + cpu.system) / 1000,
  // ru_maxrss (KiB): the process's peak resident set, loading tsx and the model included.
  peakRss: process.resourceUsage().maxRSS * 1024,
};
console.log(JSON.stringify(run));
