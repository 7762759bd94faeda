// The guest party as an XState actor: running until every vCPU halted, or terminated once it
// reports a fatal error. Responses resume the vCPU flows in kernel.ts; after termination they
// are dropped (a dead kernel runs nothing).
import { setup } from "xstate";
import type { Envelope } from "../../protocol/index.ts";
import type { GuestKernelConfig, GuestStep } from "../../protocol/scenario.ts";
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
  | { type: "@terminated" | "@completed"; env?: undefined; ref?: undefined };

/**
 * Run the vCPU flows one step; a flow that panics sets kernel.terminated, and the last vCPU to
 * finish its workload sets kernel.complete: the machine then moves on.
 */
function runFlows(context: GuestContext, self: { send(event: GuestEvent): void }, step: () => void): void {
  step();
  if (context.kernel.terminated !== undefined) self.send({ type: "@terminated" });
  else if (context.kernel.complete) self.send({ type: "@completed" });
}

/** A response resumes the vCPU flow waiting on it (the guest's instructions complete). */
const resumeFlow = {
  actions: ({
    context,
    event,
    self,
  }: {
    context: GuestContext;
    event: GuestEvent;
    self: { send(e: GuestEvent): void };
  }) =>
    runFlows(context, self, () => {
      if (event.ref !== undefined) context.tasks.resume(event.ref, event.env!.msg);
    }),
};

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
          description: "boot every vCPU",
          actions: ({ context, self }) =>
            runFlows(context, self, () => context.kernel.start(context.workload)),
        },
      },
    },
    running: {
      on: {
        "@response": resumeFlow,
        "@completed": { target: "halted", description: "every vCPU ran its workload" },
        "@terminated": { target: "terminated", description: "panic: report a fatal error" },
      },
    },
    /** Every vCPU is done and halting; the answers to their HLTs still arrive. */
    halted: { on: { "@response": resumeFlow } },
    /** A dead kernel runs nothing: late responses are dropped. */
    terminated: {
      entry: ({ context }) => context.tasks.abandonAll(),
    },
  },
});

export interface GuestOptions {
  platform: "tdx" | "pkvm";
  policy: GuestPolicy["name"];
  /** init_on_alloc / init_on_free (default: both off, as in a defconfig kernel). */
  kernel?: GuestKernelConfig | undefined;
  workload: GuestStep[][];
}

export function createGuestParty(options: GuestOptions): XStateParty {
  const io = new PartyIO();
  const tasks = new TaskRunner(io);
  const policy = GUEST_POLICIES[options.policy];
  const arch = options.platform === "tdx" ? new TdxGuest(policy, io, tasks) : new PkvmGuest(io);
  const config = options.kernel ?? { init_on_alloc: false, init_on_free: false };
  const kernel = new GuestKernel(arch, policy, config, io, tasks);
  return new XStateParty("guest", guestMachine, { kernel, tasks, workload: options.workload }, io);
}
