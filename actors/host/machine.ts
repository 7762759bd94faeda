// The honest host (KVM + VMM) as an XState actor whose states are the VM's lifecycle
// (lifecycle.ts). Requests from the VMM to KVM arrive like any other message (they are logged:
// the ioctl boundary is a protocol boundary too) and run as kernel flows; responses resume
// whichever flow waits on them. KVM moves the lifecycle on as the VM is created, built, run,
// killed and torn down; `cocomem describe` draws the machine.

import { type AnyActorRef, setup } from "xstate";
import type { Envelope, Level, RequestEnvelope } from "../../protocol/index.ts";
import { type PkvmProfile, pkvmProfile } from "../../protocol/profiles.ts";
import type { HostAction, Platform } from "../../protocol/scenario.ts";
import { TaskRunner } from "../../src/kit/flows.ts";
import { PartyIO } from "../../src/kit/outbox.ts";
import { type PartyEvent, XStateParty } from "../../src/kit/xstate-party.ts";
import { GuestRam } from "./guest-ram.ts";
import { HostMemory } from "./host-memory.ts";
import {
  HOST_LIFECYCLE,
  HOST_VM_STATES,
  type HostVmState,
  type VmEvent,
  type VmLifecycle,
} from "./lifecycle.ts";
import { Milestones } from "./milestones.ts";
import { KvmPkvm } from "./pkvm/kvm.ts";
import { PkvmVmm } from "./pkvm/vmm.ts";
import { KvmTdx } from "./tdx/kvm.ts";
import { TdxVmm } from "./tdx/vmm.ts";

/** The host kernel takes the VMM's ioctls; the VMM drives the run. One pair per platform. */
interface HostContext {
  kvm: { handle(env: RequestEnvelope): void };
  vmm: { start(): void };
  tasks: TaskRunner;
  lifecycle: MachineLifecycle;
}

type HostEvent = (PartyEvent & { env?: Envelope; ref?: number }) | VmEvent;

/** The lifecycle port KVM holds, backed by the machine: it reads the state and sends the moves. */
class MachineLifecycle implements VmLifecycle {
  private self: AnyActorRef | undefined;

  attach(self: AnyActorRef): void {
    this.self = self;
  }

  get state(): HostVmState {
    return (this.self?.getSnapshot().value as HostVmState | undefined) ?? "no-vm";
  }

  notify(event: VmEvent): void {
    this.self!.send(event);
  }
}

/** The host machine of each platform, built once (a machine definition is costly to make). */
const HOST_MACHINES = { tdx: defineHostMachine("tdx"), pkvm: defineHostMachine("pkvm") };

/** The host machine of a platform: one state per lifecycle state, the moves from the table. */
export function hostMachine(platform: Platform) {
  return HOST_MACHINES[platform];
}

function defineHostMachine(platform: Platform) {
  const table = HOST_LIFECYCLE[platform];
  const states = Object.fromEntries(
    HOST_VM_STATES.filter(
      (state) => state === "no-vm" || Object.values(table).some((moves) => moves.some((m) => m.to === state)),
    ).map((state) => [
      state,
      // No final state: replies to the VMM still flow after the VM is gone.
      {
        on: Object.fromEntries(
          table[state].map((move) => [move.on, { target: move.to, description: move.why }]),
        ),
      },
    ]),
  );
  return setup({
    types: { context: {} as HostContext, events: {} as HostEvent, input: {} as HostContext },
  }).createMachine({
    id: `honest-host-${platform}`,
    context: ({ input, self }) => {
      input.lifecycle.attach(self);
      return input;
    },
    initial: "no-vm",
    on: {
      "@start": { actions: ({ context }) => context.vmm.start() },
      "@response": {
        actions: ({ context, event }) => {
          if ("ref" in event && event.ref !== undefined) context.tasks.resume(event.ref, event.env!.msg);
        },
      },
      "vm.*": {
        actions: ({ event, self }) => {
          throw new Error(
            `bug: the VM cannot take ${event.type} in state ${String(self.getSnapshot().value)}`,
          );
        },
      },
      "*": {
        actions: ({ context, event }) => {
          const env = "env" in event ? event.env : undefined;
          if (env?.to !== "host/kvm" || env.kind !== "request") {
            throw new Error(`honest host cannot handle ${event.type} to ${env?.to}`);
          }
          context.kvm.handle(env as RequestEnvelope);
        },
      },
    },
    states,
  });
}

export interface HonestHostOptions {
  platform: Platform;
  memory: number;
  vcpus: number;
  septVeDisable: boolean;
  /** TDX: a modified KVM that sets CONFIG_FLAGS.FLEXIBLE_PENDING_VE (default: upstream, never). */
  flexiblePendingVe?: boolean | undefined;
  /** TDX: the VMM gives up after building the TD, before KVM_TDX_FINALIZE_VM. */
  stopBeforeFinalize?: boolean | undefined;
  /** TDX: X86_BUG_TDX_PW_MCE, so KVM clears the pages it takes back (default: yes). */
  partialWriteErratum?: boolean | undefined;
  image?: { pages: string[]; measure: boolean } | undefined;
  onPost: { value: number; do: HostAction[] }[];
  privateLevel: Level;
  variant: "pinned" | "gmem";
  /** pKVM: the version followed (default: android16-6.12). */
  pkvmProfile?: PkvmProfile | undefined;
}

export function createHonestHost(options: HonestHostOptions): XStateParty {
  const io = new PartyIO();
  const tasks = new TaskRunner(io);
  const lifecycle = new MachineLifecycle();
  const memory = new HostMemory();
  const machine = hostMachine(options.platform);
  if (options.platform === "pkvm") {
    const ram = new GuestRam(io, memory, options.variant === "gmem" ? "guest_memfd" : "anonymous");
    const kvm = new KvmPkvm(io, tasks, lifecycle, memory, ram, options.pkvmProfile ?? pkvmProfile(undefined));
    const milestones = new Milestones(options.onPost, tasks, kvm);
    const vmm = new PkvmVmm(io, tasks, ram, milestones, (reason) => kvm.kill(reason), {
      vcpus: options.vcpus,
      variant: options.variant,
    });
    return new XStateParty("host", machine, { kvm, vmm, tasks, lifecycle }, io);
  }
  const ram = new GuestRam(io, memory, "anonymous");
  const kvm = new KvmTdx(io, tasks, lifecycle, memory, ram, {
    privateLevel: options.privateLevel,
    hkid: 1,
    flexiblePendingVe: options.flexiblePendingVe ?? false,
    partialWriteErratum: options.partialWriteErratum ?? true,
  });
  const milestones = new Milestones(options.onPost, tasks, kvm);
  const vmm = new TdxVmm(io, tasks, ram, milestones, options);
  return new XStateParty("host", machine, { kvm, vmm, tasks, lifecycle }, io);
}
