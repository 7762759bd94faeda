// The outbox a party's code writes to during one step: the messages it sends and the effects it
// logs. The XState adapter drains it after each delivered event and hands that to the transport.
import type { Address, CallName, Effect, Envelope, Request, Response } from "../../protocol/index.ts";
import type { StepOutput } from "./party.ts";

/** How party code emits messages and effects during one step. */
export class PartyIO {
  private readonly primary: StepOutput = { out: [], effects: [] };
  private readonly spare: StepOutput = { out: [], effects: [] };
  private buffer: StepOutput = this.primary;

  request<N extends CallName>(from: Address, to: Address, msg: Request<N>, ref: number): void {
    this.buffer.out.push({ from, to, kind: "request", msg, ref });
  }

  /** Answer a request; the response goes back to whoever sent it, from the address it was sent to. */
  reply<N extends CallName>(request: Envelope, msg: Response<N>): void {
    this.buffer.out.push({ from: request.to, to: request.from, kind: "response", msg, re: request.id });
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
