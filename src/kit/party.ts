// What a party is to the orchestrator: something that takes one delivered message and returns the
// messages and effects it produced. Transports carry exactly this, so a party runs the same in
// process or in a child process.
import type { Address, Effect, Envelope, Message, MessageKind, PartyName } from "../../protocol/index.ts";
import type { Choice, Divergence } from "./choice.ts";

/** A message a party wants sent. `ref` is the sender's own tag, handed back with the response. */
export interface OutMsg {
  from: Address;
  to: Address;
  kind: MessageKind;
  msg: Message;
  re?: string;
  ref?: number;
}

export interface StepOutput {
  out: OutMsg[];
  effects: Effect[];
  /** Choices the party made in its own process (a host plug-in under the process transport). */
  choices?: Choice[];
  /** A replayed tape stopped fitting the party's choices. */
  divergence?: Divergence;
}

export interface Delivery {
  env: Envelope;
  /** For a response: the `ref` the recipient gave its request. */
  ref?: number;
}

export interface PartyEndpoint {
  readonly name: PartyName;
  /** True when the party runs elsewhere and only ever sees a serialised copy (another process). */
  readonly isolated?: boolean;
  start(): StepOutput | Promise<StepOutput>;
  deliver(delivery: Delivery): StepOutput | Promise<StepOutput>;
  close?(): void | Promise<void>;
}
