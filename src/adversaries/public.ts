// The public plug-in API: `import { defineAdversary } from "cocomem/plugins"`. A `wrap` adversary
// needs only defineAdversary and the protocol types; a `replace` adversary builds its own party
// with the same pieces the honest host is made of.
export { createHonestHost } from "../../actors/host/machine.ts";
export type { Address, Content, Envelope, Request, Response } from "../../protocol/index.ts";
export { call, lock, TaskRunner } from "../kit/flows.ts";
export { PartyIO } from "../kit/outbox.ts";
export { XStateParty } from "../kit/xstate-party.ts";
export {
  type Adversary,
  type AttackContext,
  type Decision,
  defineAdversary,
  type HostHooks,
  type ReplaceContext,
  type SendDecision,
} from "./api.ts";
