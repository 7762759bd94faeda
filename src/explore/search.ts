// The search: hand out batches of run indices to worker threads (tinypool), merge what comes back,
// report progress, stop at the budget, the deadline or an abort. Each distinct finding is kept
// from its lowest-numbered run, so with a run budget the findings do not depend on the number of
// workers or on the order batches finish in. Bounded exhaustive search (dfs) runs in this thread:
// each of its runs depends on the one before.
import { availableParallelism } from "node:os";
import { Tinypool } from "tinypool";
import { FULL_MIX } from "../adversaries/any/mix.ts";
import { type BatchResult, type BatchTask, type FoundRun, type Plan, runBatch, targetOf } from "./batch.ts";
import { CoverageObserver, tableCells } from "./coverage.ts";
import { BoundedDfs } from "./dfs.ts";
import { type ExploreRun, exploreRun } from "./runner.ts";
import { actionCount } from "./shrink.ts";
import { lenient, type StrategyName } from "./strategies.ts";
import type { TargetSpec } from "./target.ts";

export const DEFAULT_BATCH = 32;
export const DEFAULT_DFS_DEPTH = 2;
export const defaultWorkers = (): number => availableParallelism();

export interface ExploreOptions {
  readonly target: TargetSpec;
  readonly strategy: StrategyName | "portfolio";
  readonly seed: number;
  /** Stop after this many runs (deterministic findings), or ... */
  readonly runs?: number;
  /** ... after this many seconds (as many runs as fit). */
  readonly seconds?: number;
  readonly workers: number;
  /** dfs: the most departures from the default a run may make. */
  readonly depth?: number;
  readonly batch?: number;
  /**
   * Stop handing out runs once something is found (true), or a finding with this key (what is in
   * flight still finishes).
   */
  readonly first?: boolean | string;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: ExploreProgress) => void;
}

export interface ExploreProgress {
  readonly runs: number;
  /** The run budget, if there is one. */
  readonly budget: number | undefined;
  readonly elapsedMs: number;
  readonly findings: number;
  readonly transitions: number;
  readonly cells: number;
  readonly cellTotal: number;
  /** Host actions of the shortest finding so far (before shrinking). */
  readonly shortest: number | undefined;
}

export interface ExploreSummary extends ExploreProgress {
  readonly steps: number;
  readonly outcomes: Record<string, number>;
  /** One per distinct finding, from its lowest-numbered run, in run order. */
  readonly found: FoundRun[];
  /** dfs: whether every run within the bound was run. */
  readonly exhausted: boolean | undefined;
  readonly depth: number | undefined;
  readonly interrupted: boolean;
}

/** Merges batches (in any order) into one summary. */
class Tally {
  runs = 0;
  steps = 0;
  readonly outcomes: Record<string, number> = {};
  readonly found = new Map<string, FoundRun>();
  readonly transitions = new Set<string>();
  readonly cells = new Set<string>();

  add(result: BatchResult): void {
    this.runs += result.runs;
    this.steps += result.steps;
    for (const [outcome, n] of Object.entries(result.outcomes))
      this.outcomes[outcome] = (this.outcomes[outcome] ?? 0) + n;
    for (const run of result.findings) this.keep(run);
    this.addCoverage(result.transitions, result.cells);
  }

  /** One run made here (bounded search), its coverage counted separately. */
  addRun(index: number, plan: Plan, run: ExploreRun): void {
    this.runs++;
    this.steps += run.report.result.steps;
    const outcome = run.finding ? "finding" : run.report.result.underlying.outcome;
    this.outcomes[outcome] = (this.outcomes[outcome] ?? 0) + 1;
    if (run.finding)
      this.keep({ index, finding: run.finding, plan, tape: run.tape, actions: actionCount(run.tape) });
  }

  addCoverage(transitions: Iterable<string>, cells: Iterable<string>): void {
    for (const t of transitions) this.transitions.add(t);
    for (const c of cells) this.cells.add(c);
  }

  /** Each distinct finding from its lowest-numbered run. */
  private keep(run: FoundRun): void {
    const known = this.found.get(run.finding.key);
    if (!known || run.index < known.index) this.found.set(run.finding.key, run);
  }

  shortest(): number | undefined {
    const actions = [...this.found.values()].map((f) => f.actions);
    return actions.length > 0 ? Math.min(...actions) : undefined;
  }
}

export async function explore(options: ExploreOptions): Promise<ExploreSummary> {
  if (options.runs === undefined && options.seconds === undefined)
    throw new Error("give a budget: runs or seconds");
  const target = await targetOf(options.target);
  const cellTotal = tableCells(target.platform).length;
  const tally = new Tally();
  const { first } = options;
  const wanted =
    first === undefined || first === false ? undefined : (key: string) => first === true || key === first;
  const started = performance.now();
  const deadline =
    options.seconds === undefined ? Number.POSITIVE_INFINITY : started + options.seconds * 1000;
  const progress = (): ExploreProgress => ({
    runs: tally.runs,
    budget: options.runs,
    elapsedMs: performance.now() - started,
    findings: tally.found.size,
    transitions: tally.transitions.size,
    cells: tally.cells.size,
    cellTotal,
    shortest: tally.shortest(),
  });
  const stop = () =>
    options.signal?.aborted === true ||
    performance.now() >= deadline ||
    (wanted !== undefined && [...tally.found.keys()].some(wanted));
  let exhausted: boolean | undefined;
  let depth: number | undefined;
  if (options.strategy === "dfs") {
    depth = options.depth ?? DEFAULT_DFS_DEPTH;
    exhausted = await searchDfs(options, depth, tally, stop, () => options.onProgress?.(progress()));
  } else {
    await searchBatches(options, tally, stop, () => options.onProgress?.(progress()));
  }
  let found = [...tally.found.values()].sort((a, b) => a.index - b.index);
  const stopper = wanted && found.find((f) => wanted(f.finding.key));
  if (stopper && options.strategy !== "dfs") {
    // What one worker would have found: everything up to the end of the stopping finding's batch
    // (more workers also finish later batches that were already handed out).
    const size = options.batch ?? DEFAULT_BATCH;
    const end = (Math.floor(stopper.index / size) + 1) * size;
    found = found.filter((f) => f.index < end);
  }
  return {
    ...progress(),
    findings: found.length,
    steps: tally.steps,
    outcomes: tally.outcomes,
    found,
    exhausted,
    depth,
    interrupted: options.signal?.aborted === true,
  };
}

async function searchBatches(options: ExploreOptions, tally: Tally, stop: () => boolean, report: () => void) {
  const size = options.batch ?? DEFAULT_BATCH;
  let next = 0;
  const task = (): BatchTask | undefined => {
    const left = options.runs === undefined ? size : Math.min(size, options.runs - next);
    if (left <= 0 || stop()) return undefined;
    const t: BatchTask = {
      target: options.target,
      strategy: options.strategy,
      seed: options.seed,
      start: next,
      count: left,
    };
    next += left;
    return t;
  };
  if (options.workers <= 1) {
    for (let t = task(); t; t = task()) {
      tally.add(await runBatch(t));
      report();
      // Let a signal (Ctrl-C) arrive between batches.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return;
  }
  const pool = new Tinypool({
    filename: new URL("./worker-boot.mjs", import.meta.url).href,
    minThreads: options.workers,
    maxThreads: options.workers,
  });
  try {
    const lane = async (): Promise<void> => {
      for (let t = task(); t; t = task()) {
        tally.add((await pool.run(t)) as BatchResult);
        report();
      }
    };
    // Two batches in flight per worker, so none waits for the main thread between batches.
    await Promise.all(Array.from({ length: options.workers * 2 }, lane));
  } finally {
    await pool.destroy();
  }
}

async function searchDfs(
  options: ExploreOptions,
  depth: number,
  tally: Tally,
  stop: () => boolean,
  report: () => void,
): Promise<boolean> {
  const target = await targetOf(options.target);
  const coverage = new CoverageObserver(target.platform);
  const { seed } = options;
  let index = 0;
  const dfs = new BoundedDfs(async (tape) => {
    const run = await exploreRun(target, {
      seed,
      mix: FULL_MIX,
      strategy: lenient(tape),
      observers: [coverage],
    });
    const plan: Plan = { strategy: "dfs", seed, mix: FULL_MIX, tape };
    tally.addRun(index++, plan, run);
    return run.tape;
  }, depth);
  const reportCoverage = () => {
    tally.addCoverage(coverage.transitions, coverage.cells);
    report();
  };
  while (!stop() && (options.runs === undefined || index < options.runs)) {
    if ((await dfs.next()) === undefined) break;
    if (index % DEFAULT_BATCH === 0) {
      reportCoverage();
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
  reportCoverage();
  return dfs.exhausted;
}
