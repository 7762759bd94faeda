// The guest party as an XState actor: running until every vCPU halted, or terminated once it
// reports a fatal error. Responses resume the vCPU flows in kernel.ts; after termination they
// are dropped (a dead kernel runs nothing).
import { setup } from "xstate";
import type { Envelope } from "../../protocol/index.ts";
import type { GuestStep } from "../../protocol/scenario.ts";
import { TaskRunner } from "../../src/kit/flows.ts";
import { PartyIO } from "../../src/kit/outbox.ts";
import { type PartyEvent, XStateParty } from "../../src/kit/xstate-party.ts";
import { GuestKernel } from "./kernel.ts";
import { PkvmGuest } from "./pkvm.ts";
import { GUEST_POLICIES, type GuestPolicy } from "./policy.ts";
import { TdxGuest } from "./tdx.ts";

interface GuestContext {
  kernel: GuestKernel;
  tasks: TaskRunner;
  workload: GuestStep[][];
}

type GuestEvent =
  | (PartyEvent & { env?: Envelope; ref?: number })
  | { type: "@terminated"; env?: undefined; ref?: undefined };

/** A flow that panics sets kernel.terminated while it runs; the machine then moves to terminated. */
function runFlows(context: GuestContext, self: { send(event: GuestEvent): void }, step: () => void): void {
  step();
  if (context.kernel.terminated !== undefined) self.send({ type: "@terminated" });
}

export const guestMachine = setup({
  types: { context: {} as GuestContext, events: {} as GuestEvent, input: {} as GuestContext },
}).createMachine({
  id: "guest-kernel",
  context: ({ input }) => input,
  initial: "booting",
  states: {
    booting: {
      on: {
        "@start": {
          target: "running",
          actions: ({ context, self }) =>
            runFlows(context, self, () => context.kernel.start(context.workload)),
        },
      },
    },
    running: {
      on: {
        "@response": {
          actions: ({ context, event, self }) =>
            runFlows(context, self, () => {
              if (event.ref !== undefined) context.tasks.resume(event.ref, event.env!.msg);
            }),
        },
        "@terminated": "terminated",
      },
    },
    /** A dead kernel runs nothing: late responses are dropped. */
    terminated: {
      entry: ({ context }) => context.tasks.abandonAll(),
    },
  },
});

export interface GuestOptions {
  platform: "tdx" | "pkvm";
  policy: GuestPolicy["name"];
  workload: GuestStep[][];
}

export function createGuestParty(options: GuestOptions): XStateParty {
  const io = new PartyIO();
  const tasks = new TaskRunner(io);
  const policy = GUEST_POLICIES[options.policy];
  const arch = options.platform === "tdx" ? new TdxGuest(policy, io, tasks) : new PkvmGuest(policy, io);
  const kernel = new GuestKernel(arch, policy, io, tasks);
  return new XStateParty("guest", guestMachine, { kernel, tasks, workload: options.workload }, io);
}
