// How a run ended, derived from what it logged: the facts parties report through their effects
// (the guest stopped itself, the host killed the VM, the workload completed, the VM was torn
// down), what supervision saw (a crash, a hang), an interruption, a replay that diverged, a run
// that went round in circles (progress.ts), the step limit, and, when the run went quiet, who was
// still waiting for whom.
import { type Effect, type PartyName, partyOf } from "../../protocol/index.ts";
import type { Outcome, ViolationLine } from "../../protocol/log.ts";
import type { Divergence } from "../kit/choice.ts";
import type { OpenRequest } from "./admission.ts";
import type { Supervision } from "./supervision.ts";

export interface Verdict {
  outcome: Outcome;
  reason: string;
}

/** Facts the verdict is derived from, gathered from effects as they are logged. */
export class RunFacts {
  guestTerminated: string | undefined;
  vmKilled: string | undefined;
  workloadComplete = false;
  tornDown = false;

  note(party: PartyName, effect: Effect): void {
    if (effect.e === "terminated" && party === "guest") this.guestTerminated ??= effect.reason;
    if (effect.e !== "lifecycle") return;
    if (party === "guest" && effect.state === "workload-complete") this.workloadComplete = true;
    if (party === "host" && effect.state === "vm-killed") this.vmKilled ??= effect.detail ?? "killed";
    if (party === "host" && effect.state === "torn-down") this.tornDown = true;
  }
}

/** Everything about the end of a run besides the monitors' findings. */
export interface Ending {
  facts: RunFacts;
  supervision: Supervision;
  interrupted: string | undefined;
  diverged: Divergence | undefined;
  /** Why the run stopped making progress (progress.ts), if it did. */
  stalled: string | undefined;
  steps: number;
  maxSteps: number;
  /** Messages still queued for delivery. */
  queued: number;
  open: readonly OpenRequest[];
  /** The host is an adversary, which may withhold even its own requests. */
  adversarialHost: boolean;
}

/** The verdict: the first violation if a monitor spoke, else the run's own ending. */
export function verdict(violations: readonly ViolationLine[], ending: Ending): Verdict {
  const first = violations[0];
  if (first)
    return { outcome: "violation", reason: `${first.invariant} (${first.responsible}): ${first.detail}` };
  return ownEnding(ending);
}

/** What the run ended as in the guest's and host's own story, whatever the monitors said. */
export function ownEnding(ending: Ending): Verdict {
  const { facts, supervision, steps } = ending;
  if (ending.interrupted) {
    return { outcome: "error", reason: `interrupted (${ending.interrupted}) after ${steps} deliveries` };
  }
  if (ending.diverged) {
    const d = ending.diverged;
    return {
      outcome: "error",
      reason: `the replay diverged at ${d.stream} choice ${d.index} ("${d.label}"): ${d.detail}`,
    };
  }
  const hung = supervision.hung;
  if (hung) {
    return {
      outcome: hung.party === "host" ? "host-hung" : "error",
      reason: `${hung.party} hung: no answer to ${hung.step === 0 ? "its start" : `delivery ${hung.step}`} within ${hung.ms} ms`,
    };
  }
  const crashed = supervision.crashed;
  if (crashed) {
    return crashed.party === "host"
      ? { outcome: "host-crashed", reason: `host threw: ${crashed.error}` }
      : { outcome: "error", reason: `${crashed.party} threw: ${crashed.error}` };
  }
  if (facts.guestTerminated) return { outcome: "guest-terminated", reason: facts.guestTerminated };
  if (facts.vmKilled) return { outcome: "vm-killed-by-host", reason: facts.vmKilled };
  if (ending.stalled) return { outcome: "stalled", reason: ending.stalled };
  if (steps >= ending.maxSteps && ending.queued > 0) {
    return {
      outcome: "step-limit",
      reason: `step limit ${ending.maxSteps} reached with ${ending.queued} message${ending.queued === 1 ? "" : "s"} still to deliver: the run did not end by itself`,
    };
  }
  if (facts.workloadComplete && facts.tornDown)
    return { outcome: "completed", reason: "workload complete, VM torn down" };
  // Quiet with the guest still waiting: the host withheld service (never answered, or never ran
  // the vCPU again so its instruction could complete). Allowed, and not a model bug.
  const waitingOnHost = ending.open.filter((r) => partyOf(r.to) === "host");
  const guestWaiting = ending.open.filter((r) => partyOf(r.from) === "guest");
  if (waitingOnHost.length > 0 || guestWaiting.length > 0) {
    const what = guestWaiting[0] ?? waitingOnHost[0]!;
    return {
      outcome: "stalled",
      reason: `${what.from} still waits for ${what.type}: the host withheld service`,
    };
  }
  // An adversarial host may also withhold (or delay past the end) a request of its own, such as
  // the VMM's KVM_DESTROY_VM, or leave one of its own waiting (a TDH.VP.ENTER into a halted vCPU):
  // quiet with nothing open but the host's own requests, nobody but the host is to blame.
  if (ending.adversarialHost && ending.open.every((r) => partyOf(r.from) === "host")) {
    const own = [...new Set(ending.open.map((r) => `${r.type}->${r.to}`))].join(", ");
    return {
      outcome: "stalled",
      reason: `quiet with ${own ? `only the host's own requests open (${own})` : "nothing open"} and the VM not torn down: the host withheld service`,
    };
  }
  const openTypes = [...new Set(ending.open.map((r) => `${r.type}->${r.to}`))].join(", ");
  return {
    outcome: "deadlock",
    reason: `quiescent with the workload unfinished; open: ${openTypes || "none"}`,
  };
}
