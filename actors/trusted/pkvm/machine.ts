// The trusted side on pKVM (the EL2 hypervisor + the arm64 MMU) as one XState actor. Each host
// hypercall and guest HVC is one atomic step; per-page state lives in mem-protect.ts's tables and
// per-VM lifecycle (alive, dying) in its VM records.
import { setup } from "xstate";
import type { Envelope, Request, RequestEnvelope } from "../../../protocol/index.ts";
import { Arm64Platform } from "../../../src/hardware/arm64-pkvm.ts";
import { FrameStore } from "../../../src/hardware/frames.ts";
import { PartyIO } from "../../../src/kit/outbox.ts";
import { type PartyEvent, XStateParty } from "../../../src/kit/xstate-party.ts";
import { EINVAL, PkvmMemProtect } from "./mem-protect.ts";
import { PkvmVcpus } from "./vcpus.ts";

interface PkvmContext {
  mem: PkvmMemProtect;
  cpu: Arm64Platform;
  vcpus: PkvmVcpus;
  io: PartyIO;
}

type Ev = PartyEvent & { env: Envelope };
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

function hostCall(ctx: PkvmContext, env: RequestEnvelope): void {
  const msg = env.msg;
  if (msg.type === "__kvm_vcpu_run") return ctx.vcpus.enter(env as RequestEnvelope<"__kvm_vcpu_run">);
  if (msg.type === "__pkvm_init_vm") {
    const handle = ctx.mem.initVm(msg.protected, msg.vcpus);
    return ctx.io.reply(env, { type: "__pkvm_init_vm", ret: 0, handle });
  }
  const handler = HOST_CALLS[msg.type];
  if (!handler) throw new Error(`bug: no EL2 handler for ${msg.type}`);
  ctx.io.reply(env, { type: msg.type, ret: handler(ctx, msg) } as never);
}

function hardware(ctx: PkvmContext, env: RequestEnvelope): void {
  const msg = env.msg;
  switch (msg.type) {
    case "host.access":
      return ctx.io.reply(env, {
        type: "host.access",
        outcome: ctx.cpu.hostAccess(env.from, msg.op, msg.hpa, msg.content, msg.why, msg.pages),
      });
    case "vcpu.kick":
      return ctx.io.reply(env, { type: "vcpu.kick", wasRunning: ctx.vcpus.kick(msg.vcpu) });
    case "ept.map":
      return ctx.io.reply(env, { type: "ept.map", ok: false });
    case "ept.zap":
      return ctx.io.reply(env, { type: "ept.zap", zapped: 0 });
    default:
      throw new Error(`bug: ${msg.type} is not a hardware request`);
  }
}

/** Which kind of event a message to the trusted side is. */
export function classifyPkvm(env: Envelope): string {
  if (env.from.startsWith("guest/")) return "instruction";
  const type = env.msg.type;
  if (type === "host.access" || type === "vcpu.kick" || type === "ept.map" || type === "ept.zap")
    return "hardware";
  return "hypercall";
}

export const pkvmMachine = setup({
  types: { context: {} as PkvmContext, events: {} as Ev, input: {} as PkvmContext },
}).createMachine({
  id: "pkvm-el2",
  context: ({ input }) => input,
  initial: "EL2",
  states: {
    /** pKVM is initialised and the host deprivileged: every host and guest call lands here. */
    EL2: {
      on: {
        "@start": {},
        instruction: { actions: ({ context, event }) => context.vcpus.instruction(event.env) },
        hypercall: { actions: ({ context, event }) => hostCall(context, event.env as RequestEnvelope) },
        hardware: { actions: ({ context, event }) => hardware(context, event.env as RequestEnvelope) },
      },
    },
  },
});

export interface PkvmOptions {
  /** Host RAM in bytes: a pfn beyond it is not memory (-EPERM). */
  ramBytes: number;
  /** A deliberately broken hypervisor (attack A11): no poisoning when pages leave the guest. */
  mutant?: { skipPoison?: boolean };
}

export function createPkvmTrustedParty(options: PkvmOptions): XStateParty {
  const io = new PartyIO();
  const frames = new FrameStore();
  const mem = new PkvmMemProtect(frames, io, Math.ceil(options.ramBytes / 0x1000), options.mutant);
  const cpu = new Arm64Platform(frames, io, mem);
  const context: PkvmContext = { mem, cpu, io, vcpus: new PkvmVcpus(mem, cpu, io) };
  return new XStateParty("trusted", pkvmMachine, context, io, classifyPkvm);
}
