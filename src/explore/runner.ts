// One run of a target under a strategy, and what the explorer keeps of it: the tape, and the
// finding if there is one. A finding is a monitor firing for a party other than the host (a host
// that skips its own hygiene only hurts itself, as in the matrix), or the model failing by itself
// (a trusted party or the guest throwing, a deadlock): those are bugs of cocomem, worth a replay.
import type { LogLine, ViolationLine } from "../../protocol/log.ts";
import type { HostAction } from "../adversaries/any/adversary.ts";
import type { Mix } from "../adversaries/any/mix.ts";
import type { Choice, Strategy } from "../kit/choice.ts";
import type { Monitor } from "../monitors/monitor.ts";
import { type RunReport, runScenario } from "../run/run.ts";
import type { Target } from "./target.ts";

export interface Finding {
  /** "monitor: invariant (party)": what makes two findings the same. */
  readonly key: string;
  readonly monitor: string;
  readonly invariant: string;
  /** The party the monitor blamed ("host" only for an adversary of its own, never the generic one). */
  readonly responsible: "guest" | "host" | "fw" | "hw" | "model";
  readonly detail: string;
}

export interface ExploreRun {
  readonly report: RunReport;
  readonly finding: Finding | undefined;
  readonly tape: readonly Choice[];
}

export interface RunSetup {
  /** The run's seed (message ids, and any seeded choice the strategy leaves to it). */
  readonly seed: number;
  readonly mix: Mix;
  readonly strategy: Strategy;
  /** Keep the log in memory (stories, replay checks). */
  readonly keepLog?: boolean;
  readonly journal?: HostAction[];
  readonly observers?: readonly Monitor[];
}

export async function exploreRun(target: Target, setup: RunSetup): Promise<ExploreRun> {
  const adversary = target.adversaryFor({
    mix: setup.mix,
    ...(setup.journal ? { journal: setup.journal } : {}),
  });
  const report = await runScenario(target.scenario, {
    ...target.runOptions,
    seed: setup.seed,
    strategy: setup.strategy,
    recordTape: true,
    keepLog: setup.keepLog === true,
    ...(adversary ? { adversary } : {}),
    ...(setup.observers ? { observers: setup.observers } : {}),
  });
  return { report, finding: findingOf(report), tape: report.tape ?? [] };
}

export function findingOf(report: RunReport): Finding | undefined {
  const violation = report.result.violations.find((v) => v.responsible !== "host");
  if (violation) {
    const { monitor, invariant, responsible, detail } = violation;
    return { key: `${monitor}: ${invariant} (${responsible})`, monitor, invariant, responsible, detail };
  }
  const { outcome, reason } = report.result.underlying;
  const modelFault =
    outcome === "deadlock" || (outcome === "error" && !/^interrupted|^the replay diverged/.test(reason));
  if (!modelFault) return undefined;
  const party = /^(\w+) (threw|hung)/.exec(reason)?.[1];
  const invariant = outcome === "deadlock" ? "deadlock" : `${party ?? "a party"} failed`;
  return { key: `model: ${invariant}`, monitor: "model", invariant, responsible: "model", detail: reason };
}

/** The log line where a finding's monitor fired (for stories and replay checks). */
export function violationLine(log: readonly LogLine[], finding: Finding): ViolationLine | undefined {
  return log.find(
    (l): l is ViolationLine =>
      l.type === "violation" &&
      l.monitor === finding.monitor &&
      l.invariant === finding.invariant &&
      l.responsible === finding.responsible,
  );
}
