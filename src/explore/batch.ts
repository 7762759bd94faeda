// A batch of the explorer's runs, as a worker thread (or the main thread, with one worker) runs
// it. Run i's plan is a pure function of (strategy, seed, i), so which worker runs it, and in
// which order, changes nothing about what it finds.
import type { Platform } from "../../protocol/index.ts";
import { FULL_MIX, type Mix } from "../adversaries/any/mix.ts";
import type { Choice, Strategy } from "../kit/choice.ts";
import { CoverageObserver } from "./coverage.ts";
import { singleDeparture } from "./dfs.ts";
import { exploreRun, type Finding } from "./runner.ts";
import { actionCount } from "./shrink.ts";
import { lenient, PORTFOLIO, randomPlan, runSeed, type StrategyName, strategyOfPlan } from "./strategies.ts";
import { openTarget, type Target, type TargetSpec } from "./target.ts";

/** How run i is made: plain data, so a replay file can say it. */
export interface Plan {
  readonly strategy: StrategyName;
  readonly seed: number;
  readonly mix: Mix;
  /** dfs: the departure from the root run that this run makes. */
  readonly tape?: readonly Choice[];
}

export interface BatchTask {
  readonly target: TargetSpec;
  readonly strategy: StrategyName | "portfolio";
  readonly seed: number;
  readonly start: number;
  readonly count: number;
}

export interface FoundRun {
  readonly index: number;
  readonly finding: Finding;
  readonly plan: Plan;
  readonly tape: readonly Choice[];
  readonly actions: number;
}

export interface BatchResult {
  readonly start: number;
  readonly runs: number;
  readonly steps: number;
  /** The first run of each distinct finding in the batch. */
  readonly findings: FoundRun[];
  readonly outcomes: Record<string, number>;
  readonly transitions: string[];
  readonly cells: string[];
}

/** Opened targets and root runs, per worker: opening loads files, the root run is a run. */
const opened = new Map<string, Promise<Target>>();
const roots = new Map<string, Promise<readonly Choice[]>>();

export function targetOf(spec: TargetSpec): Promise<Target> {
  const key = JSON.stringify(spec);
  let target = opened.get(key);
  if (!target) {
    target = openTarget(spec);
    opened.set(key, target);
  }
  return target;
}

/** The all-defaults run (the honest host, first ready channel first), from which dfs departs. */
function rootOf(target: Target, seed: number): Promise<readonly Choice[]> {
  const key = `${JSON.stringify(target.spec)}#${seed}`;
  let root = roots.get(key);
  if (!root) {
    root = exploreRun(target, { seed, mix: FULL_MIX, strategy: lenient([]) }).then((run) => run.tape);
    roots.set(key, root);
  }
  return root;
}

async function planFor(
  target: Target,
  strategy: StrategyName | "portfolio",
  seed: number,
  index: number,
): Promise<Plan> {
  const name = strategy === "portfolio" ? PORTFOLIO[index % PORTFOLIO.length]! : strategy;
  if (name === "dfs") {
    // Portfolio's share of bounded search: the single departures from the root, in order; once
    // they are all done, its turns go to random.
    const slot = strategy === "portfolio" ? Math.floor(index / PORTFOLIO.length) : index;
    const tape = singleDeparture(await rootOf(target, seed), slot);
    if (tape) return { strategy: "dfs", seed, mix: FULL_MIX, tape };
    return randomPlan("random", runSeed(seed, index), target.platform);
  }
  return randomPlan(name, runSeed(seed, index), target.platform);
}

export function strategyOf(plan: Plan): Strategy {
  return plan.strategy === "dfs"
    ? lenient(plan.tape ?? [])
    : strategyOfPlan({ ...plan, strategy: plan.strategy });
}

export async function runBatch(task: BatchTask): Promise<BatchResult> {
  const target = await targetOf(task.target);
  const coverage = new CoverageObserver(target.platform as Platform);
  const findings = new Map<string, FoundRun>();
  const outcomes: Record<string, number> = {};
  let steps = 0;
  for (let index = task.start; index < task.start + task.count; index++) {
    const plan = await planFor(target, task.strategy, task.seed, index);
    const run = await exploreRun(target, {
      seed: plan.seed,
      mix: plan.mix,
      strategy: strategyOf(plan),
      observers: [coverage],
    });
    steps += run.report.result.steps;
    const outcome = run.finding ? "finding" : run.report.result.underlying.outcome;
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    if (run.finding && !findings.has(run.finding.key))
      findings.set(run.finding.key, {
        index,
        finding: run.finding,
        plan,
        tape: run.tape,
        actions: actionCount(run.tape),
      });
  }
  return {
    start: task.start,
    runs: task.count,
    steps,
    findings: [...findings.values()],
    outcomes,
    transitions: [...coverage.transitions],
    cells: [...coverage.cells],
  };
}
