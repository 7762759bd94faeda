// Linear time and bounded memory at scale: a 1 TiB guest accepting 10k, 100k and 1M scattered 4K
// pages (1 MiB apart, so no two share a 2M region's entry and every page is an interval of its
// own). Each size runs in a child process (scale-run.ts), so its peak RSS is measured alone.
// COCOMEM_BENCH_SCALE=10000,100000 picks other sizes (the 1M run takes minutes).
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { defineScenario, type Scenario } from "../src/scenarios/define.ts";
import { progress, type Row, type Section, show } from "./report.ts";

const PAGE = 0x1000;
/** 1 TiB / 1M pages: the largest stride at which a million pages fit in the guest. */
const STRIDE = 0x100000;
const DEFAULT_SIZES = [10_000, 100_000, 1_000_000];
const TARGET_PER_PAGE_RATIO = 1.5;
const TARGET_PEAK_RSS = 512 * 2 ** 20;
const TARGET_RSS_PAGES = 1_000_000;

/** What one child reports. */
export interface ScaleRun {
  pages: number;
  steps: number;
  /** Building and validating the scenario (its workload has a step per page). */
  defineMs: number;
  /** The run, wall clock. */
  runMs: number;
  /** The run, CPU time of the process (user + system): steadier than wall time on a shared machine. */
  cpuMs: number;
  peakRss: number;
}

/** A 1 TiB guest accepting `pages` 4K pages, one every STRIDE bytes, in order. */
export function scatteredScenario(pages: number): Scenario {
  return defineScenario({
    name: "bench/scattered",
    description: `1 TiB guest accepting ${pages} 4K pages ${STRIDE / 2 ** 20} MiB apart`,
    platform: "tdx",
    guest: {
      memory: "1T",
      workload: [
        Array.from({ length: pages }, (_, i) => ({
          op: "accept" as const,
          gpa: i * STRIDE,
          size: PAGE,
          level: "4K" as const,
        })),
      ],
    },
    expect: { outcome: "completed" },
  });
}

function sizes(): number[] {
  const asked = process.env.COCOMEM_BENCH_SCALE;
  return asked ? asked.split(",").map((s) => Number(s.trim())) : DEFAULT_SIZES;
}

function runChild(pages: number): ScaleRun {
  const entry = fileURLToPath(new URL("./scale-run.ts", import.meta.url));
  const child = spawnSync(process.execPath, ["--import", "tsx", entry, String(pages)], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (child.error) throw child.error;
  if (child.status !== 0) throw new Error(`scale run of ${pages} pages exited with ${child.status}`);
  return JSON.parse(child.stdout.trim().split("\n").at(-1)!) as ScaleRun;
}

const perPage = (run: ScaleRun, ms: number) => (ms * 1000) / run.pages;
const us = (micro: number) => `${micro.toFixed(0)} us/page`;

export async function scattered(): Promise<Section> {
  const runs: ScaleRun[] = [];
  for (const pages of sizes()) {
    progress(`1 TiB guest, ${show.count(pages, "scattered pages")} (child process)`);
    runs.push(runChild(pages));
  }
  const rows: Row[] = runs.flatMap((run) => [
    {
      metric: `${show.count(run.pages, "pages")}: run time per page (wall; CPU)`,
      value: perPage(run, run.runMs),
      unit: "us/page",
      shown: `${us(perPage(run, run.runMs))}; ${us(perPage(run, run.cpuMs))}`,
    },
    {
      metric: `${show.count(run.pages, "pages")}: peak RSS (${show.count(run.steps, "messages")})`,
      value: run.peakRss,
      unit: "B",
      shown: show.bytes(run.peakRss),
      ...(run.pages === TARGET_RSS_PAGES
        ? {
            target: `< ${show.bytes(TARGET_PEAK_RSS)}`,
            status: run.peakRss < TARGET_PEAK_RSS ? "PASS" : "ABOVE",
          }
        : {}),
    } satisfies Row,
  ]);
  const first = runs[0];
  const last = runs.at(-1);
  if (first && last && last !== first) {
    for (const [what, ms] of [
      ["wall", (r: ScaleRun) => r.runMs],
      ["CPU", (r: ScaleRun) => r.cpuMs],
    ] as const) {
      const ratio = perPage(last, ms(last)) / perPage(first, ms(first));
      rows.push({
        metric: `per-page time (${what}), ${show.count(last.pages, "")}/ ${show.count(first.pages, "pages")}`,
        value: ratio,
        unit: "x",
        shown: show.ratio(ratio),
        target: `<= ${show.ratio(TARGET_PER_PAGE_RATIO)}`,
        status: ratio <= TARGET_PER_PAGE_RATIO ? "PASS" : "ABOVE",
      });
    }
  }
  return {
    title: `1 TiB guest, scattered 4K pages ${STRIDE / 2 ** 20} MiB apart (one child process per size)`,
    rows,
  };
}
