// What a party is to the orchestrator: something that takes one delivered message and returns the
// messages and effects it produced. Transports carry exactly this, so a party runs the same in
// process or in a child process.
import type {
  Address,
  CallName,
  Effect,
  Envelope,
  EventMsg,
  Message,
  MessageKind,
  PartyName,
  Request,
  Response,
} from "../../protocol/index.ts";

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

/** How party code emits messages and effects during one step. */
export class PartyIO {
  private readonly primary: StepOutput = { out: [], effects: [] };
  private readonly spare: StepOutput = { out: [], effects: [] };
  private buffer: StepOutput = this.primary;

  send(out: OutMsg): void {
    this.buffer.out.push(out);
  }

  request<N extends CallName>(from: Address, to: Address, msg: Request<N>, ref: number): void {
    this.buffer.out.push({ from, to, kind: "request", msg, ref });
  }

  /** Answer a request; the response goes back to whoever sent it, from the address it was sent to. */
  reply<N extends CallName>(request: Envelope, msg: Response<N>): void {
    this.buffer.out.push({ from: request.to, to: request.from, kind: "response", msg, re: request.id });
  }

  event(from: Address, to: Address, msg: EventMsg): void {
    this.buffer.out.push({ from, to, kind: "event", msg });
  }

  effect(effect: Effect): void {
    this.buffer.effects.push(effect);
  }

  /**
   * Hand over everything emitted since the last drain. The arrays are reused by the next step, so
   * a caller consumes (or copies) them before delivering anything else to this party.
   */
  drain(): StepOutput {
    const out = this.buffer;
    this.buffer = out === this.spare ? this.primary : this.spare;
    this.buffer.out.length = 0;
    this.buffer.effects.length = 0;
    return out;
  }
}
