// The attack matrix: every attack of the corpus against TDX and pKVM, with the `linux` and
// `naive` guest policies, each run classified: blocked, detected, DoS or violation (whose).

import type { Platform } from "../adversaries/api.ts";
import { ATTACKS, type Attack, type Cell, type Policy } from "../adversaries/corpus/catalogue.ts";
import { defineScenario } from "../scenarios/define.ts";
import { type RunReport, runScenario } from "./run.ts";
import { inprocTransport, type Transport } from "./transport.ts";

/** Every corpus run finishes in well under this many messages. */
const ATTACK_MAX_STEPS = 500_000;

export const PLATFORMS: readonly Platform[] = ["tdx", "pkvm"];
export const POLICIES: readonly Policy[] = ["linux", "naive"];

/** What a run's outcome says about the attack. */
export function classify(run: RunReport): Cell | "error" {
  const { outcome } = run.result.underlying;
  // A malicious host that skips its own hygiene (clearing pages it got back) only endangers
  // itself: that is not the attack succeeding against the guest.
  const violations = run.result.violations.filter((v) => v.responsible !== "host");
  if (violations.length > 0) return `violation (${violations[0]!.responsible})` as Cell;
  switch (outcome) {
    case "completed":
      return "blocked";
    case "guest-terminated":
      return "detected";
    case "vm-killed-by-host":
    case "stalled": // the host withheld service, or kept the guest going round in circles
    case "host-hung":
      return "DoS";
    default:
      // step-limit (still going, unclassified), deadlock (a model bug), host-crashed, error
      return "error";
  }
}

export interface MatrixCell {
  attack: string;
  platform: Platform;
  policy: Policy;
  got: Cell | "error";
  expected: Cell;
  reason: string;
  /** The monitor and invariant behind a violation cell. */
  monitor?: { name: string; invariant: string };
}

/** The scenario an attack runs against: its workload on one platform, with one guest policy. */
export function attackScenario(attack: Attack, platform: Platform, policy: Policy) {
  return defineScenario({
    name: `attack/${attack.id.toLowerCase()}`,
    description: attack.title,
    platform,
    guest: {
      memory: "16M",
      policy,
      vcpus: attack.secondVcpu ? 2 : 1,
      workload: attack.secondVcpu ? [[...attack.workload], [...attack.secondVcpu]] : [[...attack.workload]],
    },
    expect: { outcome: "completed" },
  });
}

export async function runAttack(
  attack: Attack,
  platform: Platform,
  policy: Policy,
  seed = 1,
  transport: Transport = inprocTransport,
): Promise<MatrixCell> {
  const cell = { attack: attack.id, platform, policy, expected: attack.expected[platform][policy] };
  const firing = attack.fires[platform];
  if (firing === "n/a") return { ...cell, got: "n/a", reason: `${attack.id} does not apply on ${platform}` };
  const run = await runScenario(attackScenario(attack, platform, policy), {
    seed,
    // A run that goes round in circles ends as "stalled" long before this; one still changing
    // things ends as "step-limit" here, not after minutes.
    maxSteps: ATTACK_MAX_STEPS,
    attack: attack.id,
    transport,
    ...(attack.mutant?.[platform] ? { mutant: attack.mutant[platform] } : {}),
  });
  if (!firing.check(run.log)) {
    return { ...cell, got: "did not fire", reason: `the attack never happened: not so that ${firing.says}` };
  }
  const violation = run.result.violations.find((v) => v.responsible !== "host");
  return {
    ...cell,
    got: classify(run),
    reason: violation?.detail ?? run.result.reason,
    ...(violation ? { monitor: { name: violation.monitor, invariant: violation.invariant } } : {}),
  };
}

export async function runMatrix(seed = 1, transport: Transport = inprocTransport): Promise<MatrixCell[]> {
  const cells: MatrixCell[] = [];
  for (const attack of ATTACKS) {
    for (const platform of PLATFORMS)
      for (const policy of POLICIES) cells.push(await runAttack(attack, platform, policy, seed, transport));
  }
  return cells;
}
