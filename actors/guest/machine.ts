// The guest party as an XState actor: running until every vCPU halted, or terminated once it
// reports a fatal error. Responses resume the vCPU flows in kernel.ts; after termination they
// are dropped (a dead kernel runs nothing).
import { enqueueActions, setup } from "xstate";
import type { Envelope } from "../../protocol/index.ts";
import { PartyIO } from "../../src/runtime/party.ts";
import { TaskRunner } from "../../src/runtime/tasks.ts";
import { type PartyEvent, XStateParty } from "../../src/runtime/xstate-party.ts";
import type { GuestStep } from "../../src/scenarios/spec.ts";
import { GuestKernel } from "./kernel.ts";
import { GUEST_POLICIES, type GuestPolicy } from "./policy.ts";

interface GuestContext {
  kernel: GuestKernel;
  tasks: TaskRunner;
  workload: GuestStep[][];
}

type GuestEvent =
  | (PartyEvent & { env?: Envelope; ref?: number })
  | { type: "@terminated"; env?: undefined; ref?: undefined };

export const guestMachine = setup({
  types: { context: {} as GuestContext, events: {} as GuestEvent, input: {} as GuestContext },
  guards: {
    terminated: ({ context }) => context.kernel.terminated !== undefined,
  },
}).createMachine({
  id: "guest-kernel",
  context: ({ input }) => input,
  initial: "booting",
  states: {
    booting: {
      on: {
        "@start": {
          target: "running",
          actions: enqueueActions(({ context, enqueue }) => {
            context.kernel.start(context.workload);
            if (context.kernel.terminated) enqueue.raise({ type: "@terminated" });
          }),
        },
      },
    },
    running: {
      on: {
        "@response": [
          // A panicking flow sets kernel.terminated while it runs; checked after each resume.
          { guard: "terminated", target: "terminated" },
          {
            actions: enqueueActions(({ context, event, enqueue }) => {
              if (event.ref !== undefined) context.tasks.resume(event.ref, event.env!.msg);
              if (context.kernel.terminated) enqueue.raise({ type: "@terminated" });
            }),
          },
        ],
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
  policy: GuestPolicy["name"];
  workload: GuestStep[][];
}

export function createGuestParty(options: GuestOptions): XStateParty {
  const io = new PartyIO();
  const tasks = new TaskRunner(io);
  const kernel = new GuestKernel(GUEST_POLICIES[options.policy], io, tasks);
  return new XStateParty("guest", guestMachine, { kernel, tasks, workload: options.workload }, io);
}
