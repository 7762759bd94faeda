// `npm run bench`: message rate against bare XState, heap per touched frame, the cost of a huge
// guest against a small one, and time and peak RSS as a 1 TiB guest touches 10k to 1M scattered
// pages, the explorer, and the viewer on a 100,000-line log, printed as one table and written to
// bench/results.json.
import { fileURLToPath } from "node:url";
import { exploration } from "./explore.ts";
import { heapPerFrame } from "./heap.ts";
import { hugeGuest } from "./huge-guest.ts";
import { logStream } from "./log-stream.ts";
import { ensureGc, machine } from "./measure.ts";
import { messageRate } from "./rate.ts";
import { printReport, type Section, writeJson } from "./report.ts";
import { scattered } from "./scale.ts";
import { transportRate } from "./transport.ts";
import { viewer } from "./viewer.ts";

ensureGc(import.meta.url);

async function main(): Promise<void> {
  const t0 = performance.now();
  // One after the other, never overlapped: each section's timing wants the cores to itself, and
  // starts from a collected heap, so one section's garbage is not timed in the next.
  const sections: Section[] = [];
  for (const measure of [
    messageRate,
    transportRate,
    heapPerFrame,
    hugeGuest,
    scattered,
    logStream,
    exploration,
    viewer,
  ]) {
    global.gc?.();
    sections.push(await measure());
  }
  const wallSeconds = (performance.now() - t0) / 1000;
  const info = machine();
  printReport(info, sections, wallSeconds);
  const out = fileURLToPath(new URL("./results.json", import.meta.url));
  writeJson(out, info, sections, wallSeconds);
  console.log(`results written to ${out}`);
}

await main();
