// The honest host (KVM + VMM) as an XState actor. Requests from the VMM to KVM arrive like any
// other message (they are logged: the ioctl boundary is a protocol boundary too) and run as
// kernel flows; responses resume whichever flow waits on them.
import { setup } from "xstate";
import type { Envelope, Level, RequestEnvelope } from "../../protocol/index.ts";
import { TaskRunner } from "../../src/kit/flows.ts";
import { PartyIO } from "../../src/kit/outbox.ts";
import { type PartyEvent, XStateParty } from "../../src/kit/xstate-party.ts";
import { KvmPkvm } from "./pkvm/kvm.ts";
import { VmmPkvm } from "./pkvm/vmm.ts";
import { KvmTdx } from "./tdx/kvm.ts";
import { Vmm, type VmmOptions } from "./tdx/vmm.ts";

/** The host kernel takes the VMM's ioctls; the VMM drives the run. One pair per platform. */
interface HostContext {
  kvm: { handle(env: RequestEnvelope): void };
  vmm: { start(): void };
  tasks: TaskRunner;
}

type HostEvent = PartyEvent & { env?: Envelope; ref?: number };

export const hostMachine = setup({
  types: { context: {} as HostContext, events: {} as HostEvent, input: {} as HostContext },
}).createMachine({
  id: "honest-host",
  context: ({ input }) => input,
  on: {
    "@start": { actions: ({ context }) => context.vmm.start() },
    "@response": {
      actions: ({ context, event }) => {
        if (event.ref !== undefined) context.tasks.resume(event.ref, event.env!.msg);
      },
    },
    "*": {
      actions: ({ context, event }) => {
        if (event.env?.to !== "host/kvm" || event.env.kind !== "request") {
          throw new Error(`honest host cannot handle ${event.type} to ${event.env?.to}`);
        }
        context.kvm.handle(event.env as RequestEnvelope);
      },
    },
  },
});

export interface HonestHostOptions extends VmmOptions {
  platform: "tdx" | "pkvm";
  privateLevel: Level;
  variant: "pinned" | "gmem";
}

export function createHonestHost(options: HonestHostOptions): XStateParty {
  const io = new PartyIO();
  const tasks = new TaskRunner(io);
  if (options.platform === "pkvm") {
    const kvm = new KvmPkvm(io, tasks, { variant: options.variant });
    const vmm = new VmmPkvm(io, tasks, kvm, { vcpus: options.vcpus, onPost: options.onPost });
    return new XStateParty("host", hostMachine, { kvm, vmm, tasks }, io);
  }
  const kvm = new KvmTdx(io, tasks, { privateLevel: options.privateLevel, hkid: 1 });
  const vmm = new Vmm(io, tasks, kvm, options);
  return new XStateParty("host", hostMachine, { kvm, vmm, tasks }, io);
}
