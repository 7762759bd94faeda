// What the explorer searches: a scenario, the host it runs against (the generic adversary, a
// corpus attack, a plug-in file, or the honest host), and the run options. As plain data it
// crosses into worker threads and into replay files; `openTarget` loads what it names.
import { createHash } from "node:crypto";
import type { Platform } from "../../protocol/index.ts";
import type { ProfileName } from "../../protocol/profiles.ts";
import type { TrustedMutant } from "../../protocol/scenario.ts";
import { type AnyOptions, anyAdversary } from "../adversaries/any/adversary.ts";
import type { Adversary } from "../adversaries/api.ts";
import { ATTACKS } from "../adversaries/corpus/catalogue.ts";
import { loadAdversary } from "../adversaries/load.ts";
import type { RunOptions } from "../run/run.ts";
import type { Scenario } from "../scenarios/define.ts";
import { loadScenario } from "../scenarios/load.ts";

/** A search run is short: one that goes on this long is cut off (step-limit, never a finding). */
export const EXPLORE_MAX_STEPS = 20_000;
/**
 * A search run that goes round in circles ends after this many repeats of one exchange with
 * nothing changing (a single run defaults to 1000): in a small scenario 50 is already no progress.
 */
const EXPLORE_STALL_AFTER = 50;

export interface TargetSpec {
  /** A built-in scenario name or a scenario file. */
  readonly scenario: string;
  /** "any" (the generic adversary), "honest", a corpus attack id (A1-A13), or a plug-in file. */
  readonly adversary: string;
  readonly guestPolicy?: "linux" | "naive";
  readonly profile?: ProfileName;
  readonly mutant?: TrustedMutant;
  readonly maxSteps?: number;
}

export interface Target {
  readonly spec: TargetSpec;
  readonly scenario: Scenario;
  readonly platform: Platform;
  /** sha256 of the scenario's validated spec: a replay file refuses a scenario that changed. */
  readonly scenarioHash: string;
  /** The host of one run: a fresh adversary each time (they keep what they observed). */
  adversaryFor(options: AnyOptions): Adversary | undefined;
  /** The run options every run of the target shares. */
  readonly runOptions: RunOptions;
}

export const isAttackId = (name: string): boolean => ATTACKS.some((a) => a.id === name);

export async function openTarget(spec: TargetSpec): Promise<Target> {
  const loaded = await loadScenario(spec.scenario);
  if (!loaded.ok) throw new Error(loaded.error);
  const scenario = loaded.scenario;
  const platform = scenario.spec.platform;
  const adversaryFor = await hostOf(spec.adversary, platform);
  return {
    spec,
    scenario,
    platform,
    scenarioHash: hashOf(scenario.spec),
    adversaryFor,
    runOptions: {
      keepLog: false,
      maxSteps: spec.maxSteps ?? EXPLORE_MAX_STEPS,
      stallAfter: EXPLORE_STALL_AFTER,
      ...(spec.guestPolicy ? { guestPolicy: spec.guestPolicy } : {}),
      ...(spec.profile ? { profile: spec.profile } : {}),
      ...(spec.mutant ? { mutant: spec.mutant } : {}),
    },
  };
}

async function hostOf(name: string, platform: Platform): Promise<Target["adversaryFor"]> {
  if (name === "any") return (options) => anyAdversary(platform, options);
  if (name === "honest") return () => undefined;
  const attack = ATTACKS.find((a) => a.id === name);
  if (attack) {
    if (attack.fires[platform] === "n/a") throw new Error(`attack ${name} does not apply on ${platform}`);
    return () => attack.adversary(platform);
  }
  // A plug-in file exports one adversary object: it is shared by every run of this process.
  const loaded = await loadAdversary(name);
  if (!loaded.ok) throw new Error(loaded.error);
  return () => loaded.adversary;
}

function hashOf(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("hex");
}
