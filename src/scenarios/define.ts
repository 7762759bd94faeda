// A scenario as code: its data (validated against the protocol's scenario schema) plus, optionally,
// checks only code can express (e.g. "MRTD differs between two builds").
import type { LogLine } from "../../protocol/log.ts";
import type { ProfileName } from "../../protocol/profiles.ts";
import {
  type Expectation,
  type GuestPolicyName,
  parseScenario,
  type ScenarioInput,
  type ScenarioSpec,
} from "../../protocol/scenario.ts";
import type { RunResult } from "../runtime/orchestrator.ts";

/** What a scenario's check sees of a finished run. */
export interface CheckedRun {
  readonly seed: number;
  readonly policy: GuestPolicyName;
  /** The versions of the real systems the run followed. */
  readonly profile: ProfileName;
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

/** A scenario from its data; invalid data throws one line naming the field and the value. */
export function defineScenario(input: ScenarioInput, check?: Scenario["check"]): Scenario {
  const parsed = parseScenario(input);
  if (!parsed.ok) throw new Error(`invalid scenario ${JSON.stringify(input.name)}: ${parsed.error}`);
  return check ? { spec: parsed.spec, check } : { spec: parsed.spec };
}

/** Is this run the scenario as written (its own guest policy, and its own profile if it names one)? */
export const isOwnRun = (spec: ScenarioSpec, policy: GuestPolicyName, profile: ProfileName): boolean =>
  spec.guest.policy === policy && (spec.profile === undefined || spec.profile === profile);

/**
 * What a run of the scenario under this policy and profile should end as: its own expectation, or
 * the one it gives for the other policy or profile; undefined (with why) when it gives none.
 */
export function expectationFor(
  spec: ScenarioSpec,
  policy: GuestPolicyName,
  profile: ProfileName,
): { expectation: Expectation } | { missing: string } {
  const ownProfile = spec.profile === undefined || spec.profile === profile;
  const ownPolicy = spec.guest.policy === policy;
  if (ownProfile && ownPolicy) return { expectation: spec.expect };
  const other = ownProfile
    ? spec.expectWithPolicy[policy]
    : ownPolicy
      ? spec.expectWithProfile[profile]
      : undefined;
  if (other) return { expectation: other };
  return {
    missing: ownProfile
      ? `no expectation for guest policy ${policy}`
      : `no expectation for profile ${profile}`,
  };
}
