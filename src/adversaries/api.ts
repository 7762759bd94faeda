// Adversarial hosts as plug-ins. Two ways to write one, both typed with the same protocol types
// the honest host uses:
//   - `wrap`: keep the honest host (KVM + VMM) and sit between it and the world: see every message
//     it receives or sends and keep, alter, drop or delay it, and inject calls of your own (any
//     SEAMCALL / host hypercall / KVM ioctl / memory access, with any arguments);
//   - `replace`: supply the whole host party yourself (typically an XState machine run by
//     XStateParty, with PartyIO and the generator `call` helper, exactly as actors/host does).
// Either way the orchestrator treats the host as untrusted: its messages are schema- and
// route-checked, a forged sender is stamped with the real one, and a throw or a hang ends the run.
import type { Address, Envelope, PartyName, Request, Response } from "../../protocol/index.ts";
import type { ScenarioSpec } from "../../protocol/scenario.ts";
import type { OutMsg, PartyEndpoint } from "../kit/party.ts";

export type Platform = ScenarioSpec["platform"];

/** What to do with a message: let it through, drop it, or swap it for another. */
export type Decision<M> = "keep" | "drop" | { replace: M };
/**
 * For outgoing messages the host may also hold one back until `delay` more deliveries have reached
 * it (reordering it). If nothing more arrives, the message is never sent: a withheld message.
 */
export type SendDecision = Decision<OutMsg> | { delay: number };

/**
 * Every choice an adversary makes (which page, which call, drop or keep) goes through `choose`:
 * an integer in [0, n), from the run's strategy. Seeded, a run is reproducible; recorded, it is
 * on the run's choice tape; the explorer searches these choices.
 */
export interface Choices {
  choose(n: number, label: string): number;
}

export interface AttackContext extends Choices {
  readonly platform: Platform;
  /** Deliveries to the host so far (a clock the attack can time itself by). */
  readonly step: number;
  /**
   * Send a request of your own, from the host's kernel (or its VMM for memory accesses); the
   * response goes to `onResponse`, never to the honest host.
   */
  request<M extends Request>(
    to: Address,
    msg: M,
    onResponse?: (response: Response<M["type"]>) => void,
    from?: Address,
  ): void;
}

export interface HostHooks {
  /** Called once when the run starts, and after each delivery: a place to inject requests. */
  tick?(ctx: AttackContext): void;
  /** A message arriving for the host, before the honest host sees it. */
  onReceive?(env: Envelope, ctx: AttackContext): Decision<Envelope>;
  /** A message the honest host wants to send. */
  onSend?(out: OutMsg, ctx: AttackContext): SendDecision;
}

export interface ReplaceContext extends Choices {
  readonly platform: Platform;
  readonly spec: ScenarioSpec;
}

export interface Adversary {
  readonly name: string;
  readonly description: string;
  /** Platforms it applies to (default: both). */
  readonly platforms?: readonly Platform[];
  readonly wrap?: HostHooks;
  readonly replace?: (ctx: ReplaceContext) => PartyEndpoint;
}

/** Define an adversarial host; misuse is reported at definition time, with the fix. */
export function defineAdversary(adversary: Adversary): Adversary {
  if (!adversary.wrap === !adversary.replace) {
    throw new Error(
      `adversary "${adversary.name}": give exactly one of \`wrap\` (hooks) or \`replace\` (a host party)`,
    );
  }
  return adversary;
}

export type { Envelope, OutMsg, PartyEndpoint, PartyName, Request, Response };
