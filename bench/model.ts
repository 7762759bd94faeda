// The cocomem side of the bench: the scenarios measured, and a run wired like runScenario but
// holding on to its parties and monitors, so the model's heap can be weighed while it is alive.
import type { PartyName } from "../protocol/index.ts";
import type { LogLine } from "../protocol/log.ts";
import { FrameStore } from "../src/hardware/frames.ts";
import type { PartyEndpoint } from "../src/kit/party.ts";
import { XStateParty } from "../src/kit/xstate-party.ts";
import { standardMonitors } from "../src/monitors/index.ts";
import { buildParties } from "../src/run/parties.ts";
import { DEFAULT_SEED } from "../src/run/run.ts";
import type { LogWriter } from "../src/runtime/log-writer.ts";
import { Orchestrator, type RunResult } from "../src/runtime/orchestrator.ts";
import { defineScenario, type Scenario } from "../src/scenarios/define.ts";
import { settledHeap } from "./measure.ts";

type Level = "4K" | "2M";

/** A guest of `memory` that accepts [0, size) at `level` on a host mapping private memory at `hostLevel`. */
export function acceptScenario(memory: string, size: string, level: Level, hostLevel: Level): Scenario {
  return defineScenario({
    name: "bench/accept",
    description: `${memory} guest accepts ${size} at ${level} on a ${hostLevel} host`,
    platform: "tdx",
    guest: { memory, workload: [[{ op: "accept", gpa: 0, size, level }]] },
    host: { privateLevel: hostLevel },
    expect: { outcome: "completed" },
  });
}

/** A protected pKVM guest touching `pages` pages (each a donation) and sharing then unsharing every 16th. */
export function pkvmScenario(pages: number): Scenario {
  const touch = Array.from({ length: pages }, (_, i) => ({
    op: "write" as const,
    gpa: i * 0x1000,
    tag: "t",
    secret: false,
  }));
  const share = Array.from({ length: pages / 16 }, (_, i) => [
    { op: "convert" as const, gpa: i * 0x10000, size: "4K", to: "shared" as const },
    { op: "convert" as const, gpa: i * 0x10000, size: "4K", to: "private" as const },
  ]).flat();
  return defineScenario({
    name: "bench/pkvm",
    description: `protected guest touching ${pages} pages, sharing and unsharing every 16th`,
    platform: "pkvm",
    guest: { memory: "1G", workload: [[...touch, ...share]] },
    expect: { outcome: "completed" },
  });
}

/** Milestones a held run can mark (lifecycle effects the parties emit). */
export type Milestone = "td-finalized" | "workload-complete";

/** What a held run saw when a milestone's effect went by. */
export interface MilestoneMark {
  /** Messages delivered by then (a run stopped after this many stops right there). */
  steps: number;
  /** Settled used heap then, if asked for. */
  heap?: number;
}

/**
 * A log writer that keeps no lines: it counts delivered messages and notes each milestone. The
 * orchestrator writes every effect synchronously in the step that made it, so a mark is taken
 * mid-run with the whole model alive, e.g. all memory accepted but not yet given back.
 */
class MilestoneProbe implements LogWriter {
  readonly marks = new Map<Milestone, MilestoneMark>();
  private delivered = 0;

  constructor(
    private readonly watched: readonly Milestone[],
    private readonly weigh: boolean,
  ) {}

  write(line: LogLine): void {
    if (line.type === "msg") this.delivered++;
    if (line.type !== "effect" || line.effect.e !== "lifecycle") return;
    const state = line.effect.state as Milestone;
    if (!this.watched.includes(state) || this.marks.has(state)) return;
    const steps = this.delivered;
    this.marks.set(state, this.weigh ? { steps, heap: settledHeap() } : { steps });
  }

  close(): void {}
}

export interface HeldOptions {
  watch?: readonly Milestone[];
  /** Also weigh the settled heap at each milestone (forces GCs mid-run: not for timed runs). */
  weigh?: boolean;
  /** Stop after this many deliveries, leaving the parties where they are (e.g. TD finalized). */
  stopAfter?: number;
}

export interface HeldRun {
  parties: Record<PartyName, PartyEndpoint>;
  /** Held too: its monitors keep shadow state per page, which is part of what a run costs. */
  orchestrator: Orchestrator;
  result: RunResult;
  marks: ReadonlyMap<Milestone, MilestoneMark>;
}

/**
 * Build the parties and run them as runScenario does (same seed, monitors, step limit), minus the
 * header and expectations, and hand back the parties and the orchestrator (with its monitors), so
 * the caller decides how long the model lives.
 */
export async function runHeld(scenario: Scenario, options: HeldOptions = {}): Promise<HeldRun> {
  const probe = new MilestoneProbe(options.watch ?? [], options.weigh ?? false);
  const parties = buildParties(scenario.spec);
  const orchestrator = new Orchestrator({
    seed: DEFAULT_SEED,
    parties,
    log: probe,
    monitors: standardMonitors(scenario.spec.platform),
    untrusted: new Set(),
    maxSteps: options.stopAfter ?? 20_000_000,
  });
  const result = await orchestrator.run();
  // A run cut short ends on the step limit by design; any other run must complete.
  if (options.stopAfter === undefined && result.outcome !== "completed") {
    throw new Error(`bench run ${result.outcome}: ${result.reason}`);
  }
  return { parties, orchestrator, result, marks: probe.marks };
}

export function markOf(run: HeldRun, milestone: Milestone): MilestoneMark {
  const mark = run.marks.get(milestone);
  if (!mark)
    throw new Error(`bench run never reached ${milestone} (${run.result.outcome}: ${run.result.reason})`);
  return mark;
}

/** Frames the run touched: the trusted side's physical memory is the one FrameStore of a run. */
export function touchedFrames(parties: Record<PartyName, PartyEndpoint>): number {
  const trusted = parties.trusted;
  if (!(trusted instanceof XStateParty)) throw new Error("bench expects an in-process trusted party");
  const frames: unknown = trusted.snapshot().context?.cpu?.frames;
  if (!(frames instanceof FrameStore)) throw new Error("trusted party context has no cpu.frames FrameStore");
  return frames.touched;
}
