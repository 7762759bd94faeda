// The trusted side on pKVM (the EL2 hypervisor + the arm64 MMU) as one XState actor. Its states are
// the protected VM's lifecycle at EL2 (arch/arm64/kvm/hyp/nvhe/pkvm.c, android16-6.12): created by
// __pkvm_init_vm, running once a vCPU is loaded, dying after __pkvm_start_teardown_vm (is_dying),
// torn down by __pkvm_finalize_teardown_vm. Each host hypercall and guest HVC is one atomic step;
// the call that moves the VM on does so when it succeeds. Per-page state lives in mem-protect.ts.
import { enqueueActions, setup } from "xstate";
import type { CallName, Envelope, Request, RequestEnvelope } from "../../../protocol/index.ts";
import { EINVAL } from "../../../protocol/index.ts";
import type { PkvmProfile } from "../../../protocol/profiles.ts";
import { Arm64PkvmHardware } from "../../../src/hardware/arm64-pkvm.ts";
import { FrameStore } from "../../../src/hardware/frames.ts";
import { answerHardware, classifyTrustedEvent } from "../../../src/hardware/requests.ts";
import { PartyIO } from "../../../src/kit/outbox.ts";
import { type PartyEvent, XStateParty } from "../../../src/kit/xstate-party.ts";
import { PkvmMemProtect } from "./mem-protect.ts";
import { PkvmVcpus } from "./vcpus.ts";

interface PkvmContext {
  mem: PkvmMemProtect;
  cpu: Arm64PkvmHardware;
  vcpus: PkvmVcpus;
  io: PartyIO;
}

/** Delivered messages, plus "@advance": raised when the call that moves the VM on succeeded. */
type Ev = (PartyEvent & { env: Envelope }) | { type: "@advance"; env?: undefined };
type HostCall = (ctx: PkvmContext, msg: Request) => number;

/** Host hypercalls answered with a return value (handle___pkvm_* in hyp-main.c). */
const HOST_CALLS: Record<string, HostCall> = {
  __pkvm_host_share_hyp: (c, m) => (m.type === "__pkvm_host_share_hyp" ? c.mem.hostShareHyp(m.pfn) : EINVAL),
  __pkvm_host_unshare_hyp: (c, m) =>
    m.type === "__pkvm_host_unshare_hyp" ? c.mem.hostUnshareHyp(m.pfn) : EINVAL,
  __pkvm_host_donate_hyp: (c, m) =>
    m.type === "__pkvm_host_donate_hyp" ? c.mem.hostDonateHyp(m.pfn, m.nr_pages) : EINVAL,
  __pkvm_hyp_donate_host: (c, m) =>
    m.type === "__pkvm_hyp_donate_host" ? c.mem.hypDonateHost(m.pfn, m.nr_pages) : EINVAL,
  // The handlers check the VM kind (hyp-main.c); mem_protect.c checks page states only.
  __pkvm_host_donate_guest: (c, m) =>
    m.type === "__pkvm_host_donate_guest" && c.mem.vmLoading(m.vcpu)?.protected
      ? c.mem.hostDonateGuest(m.pfn, m.gfn, m.vcpu)
      : EINVAL,
  __pkvm_host_share_guest: (c, m) =>
    m.type === "__pkvm_host_share_guest" && c.mem.vmLoading(m.vcpu)?.protected === false
      ? c.mem.hostShareGuest(m.pfn, m.gfn, m.nr_pages, m.vcpu)
      : EINVAL,
  __pkvm_host_unshare_guest: (c, m) =>
    m.type === "__pkvm_host_unshare_guest" && c.mem.vms.get(m.handle)?.protected === false
      ? c.mem.hostUnshareGuest(m.handle, m.gfn, m.nr_pages)
      : EINVAL,
  __pkvm_host_wrprotect_guest: (c, m) =>
    m.type === "__pkvm_host_wrprotect_guest" ? c.mem.hostWrprotectGuest(m.handle, m.gfn) : EINVAL,
  __pkvm_vcpu_load: (c, m) => (m.type === "__pkvm_vcpu_load" ? c.mem.vcpuLoad(m.handle, m.vcpu) : EINVAL),
  __pkvm_vcpu_put: (c, m) => (m.type === "__pkvm_vcpu_put" ? putVcpu(c, m.vcpu) : EINVAL),
  __pkvm_vcpu_in_poison_fault: (c, m) => {
    if (m.type !== "__pkvm_vcpu_in_poison_fault") return EINVAL;
    const vm = c.mem.vmLoading(m.vcpu);
    if (!vm) return EINVAL;
    return vm.poisonFault.delete(m.vcpu) ? 1 : 0;
  },
  __pkvm_force_reclaim_guest_page: (c, m) =>
    m.type === "__pkvm_force_reclaim_guest_page"
      ? c.mem.forceReclaimGuestPage(Math.floor(m.phys / 0x1000))
      : EINVAL,
  __pkvm_start_teardown_vm: (c, m) =>
    m.type === "__pkvm_start_teardown_vm" ? c.mem.startTeardown(m.handle) : EINVAL,
  __pkvm_reclaim_dying_guest_page: (c, m) =>
    m.type === "__pkvm_reclaim_dying_guest_page" ? c.mem.reclaimDyingGuestPage(m.handle, m.gfn) : EINVAL,
  __pkvm_finalize_teardown_vm: (c, m) =>
    m.type === "__pkvm_finalize_teardown_vm" ? c.mem.finalizeTeardown(m.handle) : EINVAL,
};

/** Putting a vCPU that is still running in the guest is refused: it must exit first. */
function putVcpu(ctx: PkvmContext, vcpu: number): number {
  return ctx.vcpus.isInGuest(vcpu) ? EINVAL : ctx.mem.vcpuPut(vcpu);
}

/** Run a host hypercall; true if it succeeded (the advancing call then moves the VM on). */
function hostCall(ctx: PkvmContext, env: RequestEnvelope): boolean {
  const msg = env.msg;
  if (msg.type === "__kvm_vcpu_run") {
    ctx.vcpus.enter(env as RequestEnvelope<"__kvm_vcpu_run">);
    return true;
  }
  if (msg.type === "__pkvm_init_vm") {
    const handle = ctx.mem.initVm(msg.protected, msg.vcpus);
    ctx.io.reply(env, { type: "__pkvm_init_vm", ret: 0, handle });
    return true;
  }
  const handler = HOST_CALLS[msg.type];
  if (!handler) throw new Error(`bug: no EL2 handler for ${msg.type}`);
  const ret = handler(ctx, msg);
  ctx.io.reply(env, { type: msg.type, ret } as never);
  return ret === 0;
}

export type PkvmVmState = "no-vm" | "init" | "running" | "dying" | "torn-down";

/** The protected VM's lifecycle at EL2: the hypercall whose success moves it on, and where to. */
export const VM_LIFECYCLE: Readonly<
  Record<PkvmVmState, { readonly call: CallName; readonly to: PkvmVmState } | undefined>
> = {
  "no-vm": { call: "__pkvm_init_vm", to: "init" },
  init: { call: "__pkvm_vcpu_load", to: "running" },
  running: { call: "__pkvm_start_teardown_vm", to: "dying" },
  dying: { call: "__pkvm_finalize_teardown_vm", to: "torn-down" },
  "torn-down": undefined,
};

const states = Object.fromEntries(
  (Object.keys(VM_LIFECYCLE) as PkvmVmState[]).map((state) => {
    const advance = VM_LIFECYCLE[state];
    const hypercall = advance
      ? [
          { guard: { type: "advances" as const, params: { state } }, actions: "advance" as const },
          { actions: "hypercall" as const },
        ]
      : [{ actions: "hypercall" as const }];
    return [
      state,
      {
        on: advance
          ? { hypercall, "@advance": { target: advance.to, description: advance.call } }
          : { hypercall },
      },
    ];
  }),
);

export const pkvmMachine = setup({
  types: { context: {} as PkvmContext, events: {} as Ev, input: {} as PkvmContext },
  guards: {
    advances: ({ event }, params: { state: PkvmVmState }) =>
      VM_LIFECYCLE[params.state]?.call === event.env?.msg.type,
  },
  actions: {
    hypercall: ({ context, event }) => {
      hostCall(context, event.env as RequestEnvelope);
    },
    advance: enqueueActions(({ context, event, enqueue }) => {
      if (hostCall(context, event.env as RequestEnvelope)) enqueue.raise({ type: "@advance" });
    }),
  },
}).createMachine({
  id: "pkvm-el2",
  context: ({ input }) => input,
  initial: "no-vm",
  on: {
    "@start": {},
    instruction: { actions: ({ context, event }) => context.vcpus.instruction(event.env!) },
    hardware: {
      actions: ({ context, event }) =>
        answerHardware(context.io, event.env as RequestEnvelope, context.cpu, context.vcpus),
    },
  },
  states,
});

export interface PkvmOptions {
  /** Host RAM in bytes: a pfn beyond it is not memory (-EPERM). */
  ramBytes: number;
  /** The pKVM version followed. */
  profile: PkvmProfile;
  /** The 2026 in-place guest_memfd proposal: EL2 tells the host about each share and unshare. */
  inPlaceGmem: boolean;
  /** A deliberately broken hypervisor (attack A11): no poisoning when pages leave the guest. */
  mutant?: { skipPoison?: boolean };
}

export function createPkvmTrustedParty(options: PkvmOptions): XStateParty {
  const io = new PartyIO();
  const frames = new FrameStore();
  const pages = Math.ceil(options.ramBytes / 0x1000);
  const mem = new PkvmMemProtect(frames, io, pages, options.profile, options.mutant);
  const cpu = new Arm64PkvmHardware(frames, io, mem);
  const vcpus = new PkvmVcpus(mem, cpu, io, options.profile, options.inPlaceGmem);
  const context: PkvmContext = { mem, cpu, io, vcpus };
  return new XStateParty("trusted", pkvmMachine, context, io, (env) =>
    classifyTrustedEvent(env, "hypercall"),
  );
}
