// The userspace VMM on a pKVM host (crosvm/QEMU on arm64): creates a protected VM, runs one thread
// per vCPU around KVM_RUN, runs the scenario's milestone hooks, and destroys the VM when every vCPU
// is off or the VM cannot run any more. It reaches KVM only through ioctls and guest memory only
// through its own mapping (GuestRam).
import { EFAULT, FALLOC_PUNCH_HOLE, PAGE_4K } from "../../../protocol/index.ts";
import { call, type Flow, type TaskRunner } from "../../../src/kit/flows.ts";
import type { PartyIO } from "../../../src/kit/outbox.ts";
import type { GuestRam } from "../guest-ram.ts";
import type { Milestones, VmmAction } from "../milestones.ts";
import { VmmBase } from "../vmm-base.ts";

const VMM = "host/vmm" as const;
const KVM = "host/kvm" as const;
/** The guest_memfd's file descriptor number (the `gmem` host). */
const GMEM_FD = 10;

export interface PkvmVmmOptions {
  vcpus: number;
  /** Guest RAM in pinned anonymous memory (upstream), or a guest_memfd (the 2026 proposal). */
  variant: "pinned" | "gmem";
}

export class PkvmVmm extends VmmBase {
  constructor(
    private readonly io: PartyIO,
    private readonly tasks: TaskRunner,
    private readonly ram: GuestRam,
    private readonly milestones: Milestones,
    /**
     * The VM can no longer run. Simplified: the VMM reports it when KVM_RUN fails with -EFAULT
     * (a poisoned IPA), and it is logged as KVM's, since the VM's state is the kernel's.
     */
    private readonly vmDead: (reason: string) => void,
    private readonly options: PkvmVmmOptions,
  ) {
    super(options.vcpus);
  }

  start(): void {
    this.tasks.spawn(VMM, this.main());
  }

  private *main(): Flow<void> {
    const created = yield* call(KVM, { type: "KVM_CREATE_VM", protected: true, vcpus: this.options.vcpus });
    if (created.ret !== 0) {
      this.io.effect({
        e: "lifecycle",
        by: VMM,
        state: "vm-killed",
        detail: `KVM_CREATE_VM: ${created.ret}`,
      });
      return;
    }
    for (let vcpu = 0; vcpu < this.options.vcpus; vcpu++) this.tasks.spawn(VMM, this.vcpuThread(vcpu));
  }

  private *vcpuThread(vcpu: number): Flow<void> {
    for (;;) {
      const r = yield* call(KVM, { type: "KVM_RUN", vcpu });
      if (r.ret === EFAULT)
        this.vmDead(`KVM_RUN on vCPU ${vcpu}: -EFAULT (the guest touched a poisoned IPA)`);
      const exit = r.exit;
      if (r.ret < 0 || !exit) return yield* this.destroy();
      switch (exit.exit_reason) {
        case "KVM_EXIT_HLT":
          yield* this.vcpuHalted();
          return;
        case "KVM_EXIT_MMIO":
          yield* this.milestones.reached(exit.value, (action) => this.act(action));
          continue;
        default:
          return yield* this.destroy();
      }
    }
  }

  private *act(action: VmmAction): Flow<void> {
    switch (action.op) {
      case "read-shared":
        for (let gpa = action.gpa; gpa < action.gpa + action.size; gpa += PAGE_4K) yield* this.vmmRead(gpa);
        return;
      case "discard":
      case "punch-hole": {
        const r =
          this.options.variant === "gmem"
            ? yield* call(KVM, {
                type: "fallocate",
                fd: GMEM_FD,
                mode: FALLOC_PUNCH_HOLE,
                offset: action.gpa,
                len: action.size,
              })
            : yield* call(KVM, {
                type: "madvise",
                gpa: action.gpa,
                size: action.size,
                advice: "MADV_DONTNEED",
              });
        if (r.ret !== 0)
          this.io.effect({
            e: "fault",
            by: VMM,
            kind: "discard refused",
            gpa: action.gpa,
            detail: `${r.type}: ${r.ret}`,
          });
        return;
      }
      case "set-attributes":
        // No memory attributes on a pKVM host: sharing is the guest's call (MEM_SHARE).
        return;
      case "add-memslot":
      case "delete-memslot": {
        const r = yield* call(KVM, {
          type: "KVM_SET_USER_MEMORY_REGION2",
          slot: action.op === "add-memslot" ? 1 : 0,
          flags: 0,
          guest_phys_addr: action.gpa,
          memory_size: action.op === "add-memslot" ? action.size : 0,
          guest_memfd: -1,
          guest_memfd_offset: 0,
        });
        if (r.ret !== 0)
          this.io.effect({
            e: "fault",
            by: VMM,
            kind: "memslot refused",
            gpa: action.gpa,
            detail: `${r.ret}`,
          });
        return;
      }
    }
  }

  /** The VMM (EL0) reading guest memory through its own mapping. */
  private *vmmRead(gpa: number): Flow<void> {
    const view = this.ram.vmmView(Math.floor(gpa / PAGE_4K));
    if (view === "unbacked") return;
    if (view === "SIGBUS") {
      // guest_memfd maps only pages the guest shared: a fault on a private one is SIGBUS.
      const hpa = this.ram.lookup(Math.floor(gpa / PAGE_4K))!;
      this.io.effect({
        e: "fault",
        by: VMM,
        kind: "SIGBUS",
        gpa,
        hpa,
        detail: "guest_memfd page is private",
      });
      return;
    }
    const r = yield* call("hw", { type: "host.access", op: "read", hpa: view.hpa });
    if (r.outcome.result === "abort") {
      this.io.effect({
        e: "fault",
        by: VMM,
        kind: "SIGSEGV",
        gpa,
        hpa: view.hpa,
        detail: "SEGV_ACCERR: the page belongs to the guest",
      });
    }
  }
}
