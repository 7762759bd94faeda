// The explorer (`cocomem explore`): runs per second on a small scenario with one worker and with
// two; for each class of attack the issue names, runs and seconds to the first finding over ten
// seeds with the generic adversary and no hint, and the host actions of the shrunk counterexample;
// the Linux guest's defences against a long search; and bounded search against its shortest.
// COCOMEM_BENCH_EXPLORE_LINUX_RUNS sets the long search's budget (default 100,000 runs).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { targetOf } from "../src/explore/batch.ts";
import { writeCounterexample } from "../src/explore/findings.ts";
import { explore } from "../src/explore/search.ts";
import type { TargetSpec } from "../src/explore/target.ts";
import { progress, type Row, type Section, show } from "./report.ts";

/** Enough runs that starting the worker threads (each loads the model: ~2-3 s) is a small part. */
const RATE_RUNS = 16_000;
const TARGET_RUNS_PER_CORE = 1500;
const TARGET_TWO_WORKERS = 1.7;
const SEEDS = 10;
const FIND_BUDGET = 100_000;
const TARGET_MEDIAN_RUNS = 30_000;
const TARGET_SHRUNK_ACTIONS = 20;
const LINUX_RUNS = Number(process.env.COCOMEM_BENCH_EXPLORE_LINUX_RUNS ?? 100_000);

interface Goal {
  readonly name: string;
  readonly target: TargetSpec;
  /** The finding that counts (the class of attack), by its key. */
  readonly key: string;
}

const GOALS: readonly Goal[] = [
  {
    name: "TDX, naive guest: silent zero page (A3 class)",
    target: { scenario: "tdx/explore-secret", adversary: "any", guestPolicy: "naive" },
    key: "integrity: no silent zero page (guest)",
  },
  {
    name: "pKVM, naive guest: secret left in a shared page (A5 class)",
    target: { scenario: "pkvm/explore-share", adversary: "any", guestPolicy: "naive" },
    key: "confidentiality: no guest secret reaches the host (guest)",
  },
  {
    name: "pKVM, broken hypervisor: the hypervisor blamed (A11 class)",
    target: { scenario: "pkvm/explore-secret", adversary: "any", mutant: { skipZeroing: true } },
    key: "sanitisation: a guest-owned page is zeroed by the hypervisor before the host gets it back (fw)",
  },
  {
    name: "pKVM, Linux guest: the DMA share window",
    target: { scenario: "pkvm/explore-dma", adversary: "any" },
    key: "confidentiality: no guest secret reaches the host (guest)",
  },
];

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function rate(workers: number): Promise<number> {
  const started = performance.now();
  const summary = await explore({
    target: { scenario: "pkvm/explore-secret", adversary: "any" },
    strategy: "portfolio",
    seed: 1,
    runs: RATE_RUNS,
    workers,
  });
  return (summary.runs * 1000) / (performance.now() - started);
}

/** Runs to the first finding of the goal's class, per seed; with the shrunk host actions. */
async function find(goal: Goal, out: string) {
  const runs: number[] = [];
  const seconds: number[] = [];
  const actions: number[] = [];
  let missed = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    progress(`explore: ${goal.name}, seed ${seed}`);
    const started = performance.now();
    const summary = await explore({
      target: goal.target,
      strategy: "portfolio",
      seed,
      runs: FIND_BUDGET,
      workers: 2,
      first: true,
    });
    const found = summary.found.find((f) => f.finding.key === goal.key);
    seconds.push((performance.now() - started) / 1000);
    if (!found) {
      missed++;
      continue;
    }
    runs.push(found.index + 1);
    const example = await writeCounterexample(await targetOf(goal.target), found, {
      outDir: out,
      exploreSeed: seed,
      shrink: true,
    });
    actions.push(example.actions);
  }
  return { runs, seconds, actions, missed };
}

export async function exploration(): Promise<Section> {
  const rows: Row[] = [];
  progress("explore: runs/s with 1 and 2 workers");
  const one = await rate(1);
  const two = await rate(2);
  rows.push(
    {
      metric: "pkvm/explore-secret, generic adversary, 1 worker",
      value: one,
      unit: "runs/s",
      shown: show.count(one, "runs/s"),
      target: `>= ${TARGET_RUNS_PER_CORE} runs/s per core`,
      status: one >= TARGET_RUNS_PER_CORE ? "PASS" : "BELOW",
    },
    {
      metric: "the same, 2 workers",
      value: two / one,
      unit: "x",
      shown: `${show.count(two, "runs/s")}: ${show.ratio(two / one)}`,
      target: `>= ${TARGET_TWO_WORKERS}x one worker`,
      status: two / one >= TARGET_TWO_WORKERS ? "PASS" : "BELOW",
    },
  );
  const out = mkdtempSync(join(tmpdir(), "cocomem-bench-explore-"));
  try {
    const shrunkActions: number[][] = [];
    for (const goal of GOALS) {
      const { runs, seconds, actions, missed } = await find(goal, out);
      shrunkActions.push(actions);
      const within = missed === 0;
      rows.push(
        {
          metric: `${goal.name}: runs to first finding (median, max; ${SEEDS} seeds)`,
          value: runs.length > 0 ? median(runs) : Number.NaN,
          unit: "runs",
          shown:
            runs.length > 0
              ? `${show.count(median(runs), "")}, ${show.count(Math.max(...runs), "")}${missed ? `; ${missed} missed` : ""}`
              : "none found",
          target: `${SEEDS}/${SEEDS} within ${show.count(FIND_BUDGET, "")}; median <= ${show.count(TARGET_MEDIAN_RUNS, "")}`,
          status: within && median(runs) <= TARGET_MEDIAN_RUNS ? "PASS" : "ABOVE",
          samples: runs,
        },
        {
          metric: `${goal.name}: seconds to first finding (median; 2 workers)`,
          value: median(seconds),
          unit: "s",
          shown: `${median(seconds).toFixed(1)} s`,
          samples: seconds,
        },
        {
          metric: `${goal.name}: host actions after shrinking (max)`,
          value: actions.length > 0 ? Math.max(...actions) : Number.NaN,
          unit: "actions",
          shown: actions.length > 0 ? `${Math.max(...actions)} (each: ${actions.join(" ")})` : "-",
          target: `<= ${TARGET_SHRUNK_ACTIONS}`,
          status: actions.length > 0 && Math.max(...actions) <= TARGET_SHRUNK_ACTIONS ? "PASS" : "ABOVE",
          samples: actions,
        },
      );
    }
    progress(`explore: tdx/explore-secret with the Linux guest, ${LINUX_RUNS} runs`);
    const linux = await explore({
      target: { scenario: "tdx/explore-secret", adversary: "any" },
      strategy: "portfolio",
      seed: 1,
      runs: LINUX_RUNS,
      workers: 2,
    });
    rows.push({
      metric: `TDX, Linux guest: findings in ${show.count(LINUX_RUNS, "runs")}`,
      value: linux.found.length,
      unit: "findings",
      shown:
        linux.found.length === 0
          ? "none"
          : linux.found.map((f) => `${f.finding.key} (run ${f.index})`).join("; "),
      target: "none, or a real finding written up in the README",
    });
    progress("explore: bounded search, pkvm/explore-share (naive) to depth 2, against its shortest");
    const target: TargetSpec = { scenario: "pkvm/explore-share", adversary: "any", guestPolicy: "naive" };
    const dfs = await explore({ target, strategy: "dfs", depth: 2, seed: 1, runs: 200_000, workers: 1 });
    // The shortest counterexample bounded search finds (it tries the fewest changed choices first).
    const shortest = Math.min(
      ...dfs.found.filter((f) => f.finding.key === GOALS[1]!.key).map((f) => f.actions),
    );
    const shrunk = Math.max(...shrunkActions[1]!);
    rows.push({
      metric: `A5 class: shrunk (worst of ${SEEDS} seeds) against bounded search's shortest (depth 2, ${dfs.exhausted ? "exhausted" : "not exhausted"}, ${show.count(dfs.runs, "runs")})`,
      value: shrunk / shortest,
      unit: "x",
      shown: `${shrunk} / ${shortest} host actions: ${show.ratio(shrunk / shortest)}`,
      target: "<= 1.25x",
      status: shrunk / shortest <= 1.25 ? "PASS" : "ABOVE",
    });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  return { title: "The explorer", rows };
}
