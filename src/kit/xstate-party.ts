// Runs an XState v5 machine as a party. The machine gets every delivered message as an event
// (requests and events by message type, responses as "@response"), and writes what it produces
// into the PartyIO that its context holds; this adapter hands that back to the transport.
import { type AnyStateMachine, createActor } from "xstate";
import type { Envelope, PartyName } from "../../protocol/index.ts";
import type { PartyIO } from "./outbox.ts";
import type { Delivery, PartyEndpoint, StepOutput } from "./party.ts";

/** Every event a party machine receives. */
export type PartyEvent =
  | { type: "@start" }
  | { type: "@response"; env: Envelope; ref?: number }
  | { type: string; env: Envelope; ref?: number };

/** XState only needs a clock for delayed events; the model has none, so any use is a bug. */
const noTimers = {
  setTimeout(): never {
    throw new Error("the model has no timers: use simulated steps, not delays");
  },
  clearTimeout(): void {},
};

export class XStateParty implements PartyEndpoint {
  private readonly actor;
  private failure: unknown;

  constructor(
    readonly name: PartyName,
    machine: AnyStateMachine,
    input: unknown,
    private readonly io: PartyIO,
    /** The event type a delivered request or event becomes (default: the message type). */
    private readonly classify: (env: Envelope) => string = (env) => env.msg.type,
  ) {
    this.actor = createActor(machine, { input, clock: noTimers });
    this.actor.subscribe({ error: (error) => (this.failure = error) });
    this.actor.start();
  }

  start(): StepOutput {
    return this.send({ type: "@start" });
  }

  deliver({ env, ref }: Delivery): StepOutput {
    const type = env.kind === "response" ? "@response" : this.classify(env);
    return this.send(ref === undefined ? { type, env } : { type, env, ref });
  }

  snapshot() {
    return this.actor.getSnapshot();
  }

  private send(event: PartyEvent): StepOutput {
    this.actor.send(event);
    if (this.failure !== undefined) {
      const failure = this.failure;
      this.failure = undefined;
      this.io.drain();
      throw failure instanceof Error ? failure : new Error(String(failure));
    }
    return this.io.drain();
  }
}
