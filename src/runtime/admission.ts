// What the orchestrator lets through from a party: a message from one of the party's own
// addresses, on its route, answering a request that is really open; an effect the party may log
// (only the trusted side speaks for the hardware). Untrusted parties (plug-ins, other processes)
// are also held to the protocol's schemas. Anything else is logged as rejected and never delivered.
import {
  type Address,
  type Effect,
  Effect as EffectSchema,
  type PartyName,
  partyOf,
  schemaFor,
} from "../../protocol/index.ts";
import { routeProblem } from "../../protocol/routes.ts";
import type { OutMsg, StepOutput } from "../kit/party.ts";

/** A request waiting for its response. */
export interface OpenRequest {
  from: Address;
  to: Address;
  type: string;
  ref: number | undefined;
}

/** The shape every answer must have; what is inside is checked message by message, effect by effect. */
export function isStepOutput(output: unknown): output is StepOutput {
  const o = output as StepOutput | null;
  return typeof o === "object" && o !== null && Array.isArray(o.out) && Array.isArray(o.effects);
}

/** Why a message must not be delivered, or undefined if it may go. */
export function messageProblem(
  party: PartyName,
  out: OutMsg,
  open: ReadonlyMap<string, OpenRequest>,
  untrusted: boolean,
): string | undefined {
  if (typeof out !== "object" || out === null) return "malformed message: not an object";
  if (typeof out.from !== "string" || partyOf(out.from) !== party) {
    return `forged sender ${String(out.from)}: ${party} may only send from its own addresses`;
  }
  if (out.kind === "request") {
    const wrongRoute = routeProblem(String(out.msg?.type), out.from, out.to);
    if (wrongRoute) return wrongRoute;
  }
  if (out.kind === "response") {
    const request = out.re === undefined ? undefined : open.get(out.re);
    if (!request || request.to !== out.from || request.from !== out.to || request.type !== out.msg?.type) {
      return `response ${String(out.msg?.type)} answers no open request from ${out.to}`;
    }
  }
  if (untrusted) {
    const schema = schemaFor(out.kind, String(out.msg?.type));
    if (!schema) return `unknown ${out.kind} ${String(out.msg?.type)}`;
    const parsed = schema.safeParse(out.msg);
    if (!parsed.success) return `malformed ${out.msg.type}: ${parsed.error.issues[0]?.message ?? "invalid"}`;
  }
  return undefined;
}

/**
 * Why an effect must not be logged, or undefined. Only the trusted side speaks for the hardware
 * (it logs a host's load as `by: host/kvm`); the guest and the host may log only what they did.
 */
export function effectProblem(party: PartyName, effect: Effect, untrusted: boolean): string | undefined {
  if (party !== "trusted" && (typeof effect?.by !== "string" || partyOf(effect.by) !== party)) {
    return `forged effect by ${String(effect?.by)}: ${party} may only log what it did itself`;
  }
  if (untrusted) {
    const parsed = EffectSchema.safeParse(effect);
    if (!parsed.success)
      return `malformed effect ${String(effect?.e)}: ${parsed.error.issues[0]?.message ?? "invalid"}`;
  }
  return undefined;
}

/** The address a rejected line is filed under when the sender's own cannot be trusted. */
export function defaultAddress(party: PartyName): Address {
  return party === "guest" ? "guest/kernel" : party === "host" ? "host/kvm" : "fw";
}
