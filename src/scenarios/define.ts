// A scenario as code: its data (validated against the protocol's scenario schema) plus, optionally,
// checks only code can express (e.g. "MRTD differs between two builds").
import type { LogLine } from "../../protocol/log.ts";
import { type GuestPolicyName, type ScenarioInput, ScenarioSpec } from "../../protocol/scenario.ts";
import type { RunResult } from "../runtime/orchestrator.ts";

/** What a scenario's check sees of a finished run. */
export interface CheckedRun {
  readonly seed: number;
  readonly policy: GuestPolicyName;
  readonly result: RunResult;
  /** The log lines, when the run kept them in memory. */
  readonly log: readonly LogLine[];
}

/** Runs another scenario for a check that compares runs (the run assembly provides it). */
export type RunAnother = (scenario: Scenario, seed: number) => Promise<CheckedRun>;

export interface Scenario {
  spec: ScenarioSpec;
  /** Extra expectations on a finished run; each returned string is an unmet expectation. */
  check?: (run: CheckedRun, runAnother: RunAnother) => string[] | Promise<string[]>;
}

export function defineScenario(input: ScenarioInput, check?: Scenario["check"]): Scenario {
  return check ? { spec: ScenarioSpec.parse(input), check } : { spec: ScenarioSpec.parse(input) };
}
