// KVM's TDX backend as the honest host kernel runs it: each ioctl from the VMM is one kernel flow
// that replies when done. The work is in build.ts (create and build the TD), run.ts (KVM_RUN),
// faults.ts, map-gpa.ts, conversion.ts, zap.ts and teardown.ts, all on the VM state in vm.ts.
import { EBADF, EINVAL, type RequestEnvelope } from "../../../protocol/index.ts";
import { call, type Flow, type TaskRunner } from "../../../src/kit/flows.ts";
import type { PartyIO } from "../../../src/kit/outbox.ts";
import type { GuestRam } from "../guest-ram.ts";
import type { HostMemory } from "../host-memory.ts";
import { holdingVmFd, type VmLifecycle } from "../lifecycle.ts";
import type { KernelAction, KernelActions } from "../milestones.ts";
import { createGuestMemfd, finalizeVm, initMemRegion, initVm } from "./build.ts";
import { fallocate, setMemoryAttributes } from "./conversion.ts";
import { setMemoryRegion } from "./memslots.ts";
import { run } from "./run.ts";
import { destroy } from "./teardown.ts";
import { KVM, type KvmTdxOptions, TdxVm } from "./vm.ts";

export class KvmTdx implements KernelActions {
  private readonly vm: TdxVm;

  constructor(
    private readonly io: PartyIO,
    private readonly tasks: TaskRunner,
    lifecycle: VmLifecycle,
    memory: HostMemory,
    ram: GuestRam,
    options: KvmTdxOptions,
  ) {
    this.vm = new TdxVm(io, tasks, lifecycle, memory, ram, options);
  }

  /** A request from the VMM: each ioctl runs as its own kernel flow and replies when done. */
  handle(env: RequestEnvelope): void {
    this.tasks.spawn(KVM, this.ioctl(env));
  }

  private *ioctl(env: RequestEnvelope): Flow<void> {
    const { vm, io } = this;
    const msg = env.msg;
    // After KVM_DESTROY_VM (the last close of the VM's fd) there is no fd to call an ioctl on.
    if (vm.closed) return io.reply(env, { type: msg.type, ret: EBADF } as never);
    if (msg.type === "KVM_RUN" || msg.type === "KVM_DESTROY_VM") return yield* this.vcpuOrClose(env);
    yield* holdingVmFd(this.tasks, this.vmIoctl(env));
  }

  /** KVM_RUN (a vCPU fd's ioctl) and the VM fd's last close. */
  private *vcpuOrClose(env: RequestEnvelope): Flow<void> {
    const { vm, io } = this;
    const msg = env.msg;
    if (msg.type === "KVM_DESTROY_VM") {
      vm.closed = true;
      yield* destroy(vm);
      return io.reply(env, { type: msg.type, ret: 0 });
    }
    if (msg.type !== "KVM_RUN") return;
    // KVM_RUN is an ioctl on a vCPU's fd: with no such vCPU (the VMM never created it) there is no fd.
    if (msg.vcpu >= vm.vcpus) return io.reply(env, { type: msg.type, ret: EBADF });
    vm.runsInFlight++;
    try {
      return io.reply(env, yield* run(vm, msg.vcpu, msg.hypercallRet));
    } finally {
      vm.runsInFlight--;
    }
  }

  private *vmIoctl(env: RequestEnvelope): Flow<void> {
    const { vm, io } = this;
    const msg = env.msg;
    switch (msg.type) {
      case "KVM_TDX_INIT_VM":
        // tdx_td_init(): only an uninitialized TD (a second INIT_VM, or one racing the first, is -EINVAL).
        if (vm.lifecycle.state !== "no-vm" || vm.initializing)
          return io.reply(env, { type: msg.type, ret: EINVAL });
        vm.initializing = true;
        return io.reply(env, {
          type: msg.type,
          ret: yield* initVm(vm, msg.septVeDisable, msg.vcpus, msg.gpaWidth),
        });
      case "KVM_ENABLE_CAP":
        vm.exitHypercalls = msg.args0;
        return io.reply(env, { type: msg.type, ret: 0 });
      case "KVM_CREATE_GUEST_MEMFD":
        return io.reply(env, createGuestMemfd(vm, msg.size, msg.flags));
      case "KVM_SET_USER_MEMORY_REGION2":
        return io.reply(env, { type: msg.type, ret: yield* setMemoryRegion(vm, msg) });
      case "KVM_SET_MEMORY_ATTRIBUTES":
        return io.reply(env, { type: msg.type, ret: yield* setMemoryAttributes(vm, msg) });
      case "fallocate":
        return io.reply(env, {
          type: msg.type,
          ret: yield* fallocate(vm, msg.fd, msg.mode, msg.offset, msg.len),
        });
      case "KVM_TDX_INIT_MEM_REGION":
        return io.reply(env, {
          type: msg.type,
          ret: yield* initMemRegion(vm, msg.gpa, msg.source, msg.measure),
        });
      case "KVM_TDX_FINALIZE_VM":
        // tdx_td_finalize(): only an initialized, not yet finalized TD.
        if (vm.lifecycle.state !== "created") return io.reply(env, { type: msg.type, ret: EINVAL });
        return io.reply(env, yield* finalizeVm(vm));
      default:
        throw new Error(`bug: host/kvm got ${msg.type}`);
    }
  }

  /** The host kernel reading a private page sees ciphertext (or #MC on erratum parts); TDX has no
   *  host request to unmap one private page without removing it, so an unmap tries nothing. */
  *kernelAction(action: KernelAction): Flow<void> {
    if (action.op !== "kernel-read") return;
    const hpa = this.vm.privateFrame(action.gpa - (action.gpa % 0x1000));
    if (hpa !== undefined) yield* call("hw", { type: "host.access", op: "read", hpa });
  }
}
