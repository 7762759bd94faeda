// KVM on a pKVM host (arch/arm64/kvm/pkvm.c, mmu.c, arch/arm64/mm/fault.c; android16-6.12 and
// 7.1 as profiles): the host keeps no real stage-2 for a protected guest, only a record of what it
// donated. A guest's first touch of an IPA is a stage-2 fault (or, on ACK16, a MAP request from
// MEM_SHARE): KVM faults the backing page in, pins it and donates it (__pkvm_host_donate_guest).
// Teardown reclaims every page (EL2 poisons what the guest owned).
import {
  EAGAIN,
  EBADF,
  EEXIST,
  EFAULT,
  EINTR,
  EINVAL,
  EPERM,
  type KvmExit,
  PAGE_4K,
  type RequestEnvelope,
  type Response,
} from "../../../protocol/index.ts";
import type { PkvmProfile } from "../../../protocol/profiles.ts";
import { call, type Flow, lock, type TaskRunner } from "../../../src/kit/flows.ts";
import type { PartyIO } from "../../../src/kit/outbox.ts";
import type { GuestRam } from "../guest-ram.ts";
import type { HostMemory } from "../host-memory.ts";
import {
  beginTeardown,
  holdingVmFd,
  type KillableVm,
  killVm,
  VM_FD,
  type VmLifecycle,
} from "../lifecycle.ts";
import type { KernelAction, KernelActions } from "../milestones.ts";

const KVM = "host/kvm" as const;
/** kvm->mmu_lock: pKVM faults take it for write. */
const MMU_LOCK = "kvm->mmu_lock";
/** How many times teardown kicks the vCPUs out before giving up on __pkvm_start_teardown_vm. */
const TEARDOWN_TRIES = 64;
/** A bound on 7.1's fault-reclaim-retry loop for one kernel access (the kernel has none). */
const RECLAIM_RETRIES = 8;

export class KvmPkvm implements KernelActions, KillableVm {
  private vmHandle = 0;
  private vcpus = 0;
  /** KVM_CREATE_VM under way (one VM per host model). */
  private creating = false;
  /** KVM_DESTROY_VM came: the VM's fd is closed, later ioctls get -EBADF. */
  private closed = false;
  /** pkvm_mappings: gfn -> pfn of each page donated to the guest (pinned until teardown). */
  private readonly donated = new Map<number, number>();
  vmDead = false;

  constructor(
    readonly io: PartyIO,
    private readonly tasks: TaskRunner,
    readonly lifecycle: VmLifecycle,
    private readonly memory: HostMemory,
    /** The guest's RAM as the VMM maps it: what KVM pins and donates. */
    private readonly ram: GuestRam,
    private readonly profile: PkvmProfile,
  ) {}

  handle(env: RequestEnvelope): void {
    this.tasks.spawn(KVM, this.ioctl(env));
  }

  private get dying(): boolean {
    const state = this.lifecycle.state;
    return state === "tearing-down" || state === "destroyed";
  }

  private *ioctl(env: RequestEnvelope): Flow<void> {
    const msg = env.msg;
    // After KVM_DESTROY_VM (the last close of the VM's fd) there is no fd to call an ioctl on.
    if (this.closed) return this.io.reply(env, { type: msg.type, ret: EBADF } as never);
    if (msg.type === "KVM_DESTROY_VM") {
      this.closed = true;
      yield* this.destroy();
      return this.io.reply(env, { type: msg.type, ret: 0 });
    }
    // KVM_RUN is a vCPU fd's ioctl: teardown kicks it out rather than waiting for it.
    if (msg.type === "KVM_RUN") return this.io.reply(env, yield* this.run(msg.vcpu));
    yield* holdingVmFd(this.tasks, this.vmIoctl(env));
  }

  private *vmIoctl(env: RequestEnvelope): Flow<void> {
    const msg = env.msg;
    switch (msg.type) {
      case "KVM_CREATE_VM": {
        // Simplified: one VM per host model; a second KVM_CREATE_VM is refused.
        if (this.lifecycle.state !== "no-vm" || this.creating)
          return this.io.reply(env, { type: msg.type, ret: EEXIST });
        this.creating = true;
        const r = yield* call("fw", { type: "__pkvm_init_vm", protected: msg.protected, vcpus: msg.vcpus });
        this.vmHandle = r.handle ?? 0;
        this.vcpus = msg.vcpus;
        // Closed meanwhile: KVM_DESTROY_VM waits for this ioctl, then tears down what it made.
        if (r.ret === 0 && this.lifecycle.state === "no-vm") this.lifecycle.notify({ type: "vm.created" });
        return this.io.reply(env, { type: msg.type, ret: r.ret });
      }
      case "madvise":
      case "fallocate": {
        const gpa = msg.type === "madvise" ? msg.gpa : msg.offset;
        const size = msg.type === "madvise" ? msg.size : msg.len;
        return this.io.reply(env, { type: msg.type, ret: yield* this.discard(gpa, size) } as never);
      }
      case "KVM_SET_USER_MEMORY_REGION2":
        // Documentation/virt/kvm/arm/pkvm.rst (7.1): deleting or moving a protected VM's memslot
        // is -EPERM. Simplified: the model keeps no per-slot state, so adding one changes nothing.
        return this.io.reply(env, { type: msg.type, ret: msg.memory_size === 0 ? EPERM : 0 });
      default:
        return this.io.reply(env, { type: msg.type, ret: EINVAL } as never);
    }
  }

  // ---- the run loop ----

  private *run(vcpu: number): Flow<Response<"KVM_RUN">> {
    if (this.lifecycle.state === "created") this.lifecycle.notify({ type: "vm.running" });
    const loaded = yield* call("fw", { type: "__pkvm_vcpu_load", handle: this.vmHandle, vcpu });
    if (loaded.ret !== 0) return { type: "KVM_RUN", ret: this.dying ? EINTR : loaded.ret };
    const result = yield* this.runLoaded(vcpu);
    yield* call("fw", { type: "__pkvm_vcpu_put", vcpu });
    return result;
  }

  private *runLoaded(vcpu: number): Flow<Response<"KVM_RUN">> {
    for (;;) {
      if (this.dying) return { type: "KVM_RUN", ret: EINTR };
      const r = yield* call("fw", { type: "__kvm_vcpu_run", vcpu });
      const exit = r.exit;
      if (!exit) return { type: "KVM_RUN", ret: r.ret };
      switch (exit.reason) {
        case "IRQ":
          continue;
        case "DABT_LOW": {
          const ret = yield* this.stage2Fault(vcpu, exit.ipa);
          if (ret !== 0) return { type: "KVM_RUN", ret };
          continue;
        }
        case "HYP_REQ": {
          // handle_hyp_req(): KVM_HYP_REQ_TYPE_MAP -> pkvm_mem_abort_range(): pin and donate.
          const ret = yield* this.stage2Fault(vcpu, exit.ipa);
          if (ret !== 0) return { type: "KVM_RUN", ret };
          continue;
        }
        case "HVC":
          this.noteHvc(exit.fn, exit.ipa);
          continue;
        case "MMIO":
          return userExit({ exit_reason: "KVM_EXIT_MMIO", value: exit.value });
        case "PSCI_CPU_OFF":
          return userExit({ exit_reason: "KVM_EXIT_HLT" });
        case "PSCI_SYSTEM_OFF":
          return userExit({
            exit_reason: "KVM_EXIT_SYSTEM_EVENT",
            event: "KVM_SYSTEM_EVENT_SHUTDOWN",
            detail: exit.detail,
          });
      }
    }
  }

  /**
   * The stage-2 fault of a protected VM, under write_lock(&kvm->mmu_lock) (kvm_fault_lock(): pKVM
   * takes it for write, arch/arm64/kvm/mmu.c): vCPUs faulting on one IPA at once are serialised,
   * and the later ones find the page mapped (pkvm_pgtable_stage2_map() -EAGAIN: just resume).
   */
  private *stage2Fault(vcpu: number, ipa: number): Flow<number> {
    yield* lock(MMU_LOCK);
    try {
      return yield* this.stage2Map(vcpu, ipa);
    } finally {
      this.tasks.unlock(MMU_LOCK);
    }
  }

  /** pkvm_pgtable_stage2_map(): donate the backing page, or detect a poisoned IPA (-EFAULT). */
  private *stage2Map(vcpu: number, ipa: number): Flow<number> {
    const gfn = Math.floor(ipa / PAGE_4K);
    if (this.donated.has(gfn)) {
      // Already donated: either another vCPU raced us, or the host destroyed the page (poisoned IPA).
      const poison = yield* call("fw", { type: "__pkvm_vcpu_in_poison_fault", vcpu });
      if (poison.ret !== 0) {
        this.io.effect({
          e: "fault",
          by: KVM,
          kind: "poisoned IPA",
          gpa: ipa,
          detail: "KVM_RUN fails with -EFAULT",
        });
        return EFAULT;
      }
      return 0;
    }
    const hpa = yield* this.ram.faultIn(gfn);
    const r = yield* call("fw", { type: "__pkvm_host_donate_guest", pfn: hpa / PAGE_4K, gfn, vcpu });
    if (r.ret !== 0) return EFAULT;
    this.donated.set(gfn, hpa / PAGE_4K);
    return 0;
  }

  private noteHvc(fn: "MEM_SHARE" | "MEM_UNSHARE" | "MEM_RELINQUISH", ipa: number): void {
    const gfn = Math.floor(ipa / PAGE_4K);
    this.ram.setShared(gfn, fn === "MEM_SHARE");
    if (fn === "MEM_RELINQUISH") {
      // The page is the host's again (EL2 poisoned it): unpin and forget the mapping.
      this.donated.delete(gfn);
      this.ram.forget(gfn);
    }
  }

  // ---- the host trying to take memory back ----

  /**
   * madvise(MADV_DONTNEED) on pinned memory: the MMU notifier cannot fail and does nothing for a
   * protected VM (kvm_unmap_gfn_range()), so madvise returns 0 and drops the VMM's PTE while the
   * page stays pinned and donated: the VMM's next touch gets a different, zeroed page (P5,
   * pkvm.rst "may lead to loss of coherency"). PUNCH_HOLE on the in-place guest_memfd (2026
   * proposal) must unmap the page from the guest first, which EL2 refuses for a protected VM.
   */
  private *discard(gpa: number, size: number): Flow<number> {
    let ret = 0;
    for (let gfn = Math.floor(gpa / PAGE_4K); gfn < Math.ceil((gpa + size) / PAGE_4K); gfn++) {
      if (!this.donated.has(gfn)) {
        this.ram.discard(gfn);
        continue;
      }
      if (this.ram.kind === "anonymous") {
        this.ram.forget(gfn);
        continue;
      }
      const r = yield* call("fw", { type: "__pkvm_host_wrprotect_guest", handle: this.vmHandle, gfn });
      if (r.ret !== 0) ret = EPERM;
    }
    return ret;
  }

  /** A host-kernel action a scenario asks for: a driver reading guest memory, or an unmap. */
  *kernelAction(action: KernelAction): Flow<void> {
    if (action.op === "kernel-read") yield* this.kernelRead(action.gpa, action.via);
    else yield* this.unmap(action.gpa);
  }

  /**
   * An EL1 access to a page the host gave away: EL2 injects the abort into the host
   * (host_inject_abort(), S1PTW set), and do_page_fault() -> __do_kernel_fault() decides:
   * a uaccess is fixed up (-EFAULT, the page untouched), in both versions; otherwise ACK16 oopses,
   * and 7.1 force-reclaims the page (is_spurious_el1_translation_fault() ->
   * pkvm_force_reclaim_guest_page(): 0 or -EAGAIN means retry the access) and oopses only when
   * that fails.
   */
  private *kernelRead(gpa: number, via: "kernel-mapping" | "uaccess"): Flow<void> {
    const hpa = this.ram.lookup(Math.floor(gpa / PAGE_4K));
    if (hpa === undefined) return;
    for (let attempt = 0; attempt < RECLAIM_RETRIES; attempt++) {
      const access = yield* call("hw", { type: "host.access", op: "read", hpa });
      if (access.outcome.result !== "abort") return;
      if (via === "uaccess") {
        this.io.effect({ e: "fault", by: KVM, kind: "uaccess -EFAULT", hpa, detail: "fixup_exception()" });
        return;
      }
      if (this.profile.hostKernelTouch === "abort-injected") return this.oops(hpa);
      const r = yield* call("fw", { type: "__pkvm_force_reclaim_guest_page", phys: hpa });
      if (r.ret !== 0 && r.ret !== EAGAIN) return this.oops(hpa);
    }
    this.oops(hpa);
  }

  /** die_kernel_fault(): the task in the kernel dies; the page stays where it was. */
  private oops(hpa: number): void {
    this.io.effect({
      e: "fault",
      by: KVM,
      kind: "die_kernel_fault",
      hpa,
      detail: "Unable to handle kernel access to hypervisor-protected memory",
    });
  }

  /**
   * The host kernel trying to unmap a guest page (e.g. for reclaim or migration). 7.1 refuses
   * itself (pkvm_pgtable_stage2_unmap(): WARN_ON(kvm_vm_is_protected()) -> -EPERM); ACK16 asks
   * EL2, which refuses.
   */
  private *unmap(gpa: number): Flow<void> {
    const gfn = Math.floor(gpa / PAGE_4K);
    const ret =
      this.profile.protectedUnmap === "host-refuses"
        ? EPERM
        : (yield* call("fw", { type: "__pkvm_host_wrprotect_guest", handle: this.vmHandle, gfn })).ret;
    if (ret !== 0)
      this.io.effect({ e: "fault", by: KVM, kind: "unmap refused", gpa, detail: `errno ${ret}` });
  }

  // ---- teardown ----

  /** pkvm_destroy_hyp_vm(): start teardown, reclaim every donated page, finalize. */
  private *destroy(): Flow<void> {
    beginTeardown(this.lifecycle);
    // kvm_destroy_vm() runs once every VM ioctl in flight has returned (each holds the fd's lock).
    yield* lock(VM_FD);
    for (let tries = 0; ; tries++) {
      for (let vcpu = 0; vcpu < this.vcpus; vcpu++) yield* call("hw", { type: "vcpu.kick", vcpu });
      const r = yield* call("fw", { type: "__pkvm_start_teardown_vm", handle: this.vmHandle });
      if (r.ret === 0) break;
      if (tries >= TEARDOWN_TRIES) {
        this.io.effect({
          e: "fault",
          by: KVM,
          kind: "teardown",
          detail: `__pkvm_start_teardown_vm: ${r.ret}`,
        });
        return;
      }
    }
    for (const gfn of [...this.donated.keys()].sort((a, b) => a - b)) {
      const pfn = this.donated.get(gfn)!;
      const r = yield* call("fw", { type: "__pkvm_reclaim_dying_guest_page", handle: this.vmHandle, gfn });
      if (r.ret !== 0) {
        // Left pinned on purpose: a page EL2 would not give back is never reused.
        this.io.effect({
          e: "fault",
          by: KVM,
          kind: "leaked",
          gpa: gfn * PAGE_4K,
          detail: `reclaim: ${r.ret}`,
        });
        continue;
      }
      this.donated.delete(gfn);
      // Unpin: a page the VMM's mapping no longer holds (madvise) is freed here.
      if (this.ram.lookup(gfn) !== pfn * PAGE_4K) this.memory.free(pfn * PAGE_4K, 1);
    }
    yield* call("fw", { type: "__pkvm_finalize_teardown_vm", handle: this.vmHandle });
    this.ram.releaseAll();
    this.io.effect({ e: "lifecycle", by: KVM, state: "torn-down" });
    if (this.lifecycle.state === "tearing-down") this.lifecycle.notify({ type: "vm.destroyed" });
  }

  /** KVM_RUN failed for good (a poisoned IPA): the VM cannot run any more. */
  kill(reason: string): void {
    killVm(this, reason);
  }
}

const userExit = (exit: KvmExit): Response<"KVM_RUN"> => ({ type: "KVM_RUN", ret: 0, exit });
