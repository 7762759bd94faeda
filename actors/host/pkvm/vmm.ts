// The userspace VMM on a pKVM host (crosvm/QEMU on arm64): creates a protected VM, runs one thread
// per vCPU around KVM_RUN, runs the scenario's milestone hooks, and destroys the VM when every vCPU
// is off or the VM cannot run any more.
import { PAGE_4K } from "../../../protocol/index.ts";
import type { HostAction } from "../../../protocol/scenario.ts";
import { call, type Flow, lock, type TaskRunner } from "../../../src/kit/flows.ts";
import type { PartyIO } from "../../../src/kit/outbox.ts";
import { type MilestoneHooks, VmmBase } from "../milestones.ts";
import type { KvmPkvm } from "./kvm.ts";

const VMM = "host/vmm" as const;
const KVM = "host/kvm" as const;
const EFAULT = -14;

export type VmmPkvmOptions = MilestoneHooks;

export class VmmPkvm extends VmmBase {
  constructor(
    private readonly io: PartyIO,
    private readonly tasks: TaskRunner,
    private readonly kvm: KvmPkvm,
    private readonly options: VmmPkvmOptions,
  ) {
    super(options);
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
        this.kvm.kill(`KVM_RUN on vCPU ${vcpu}: -EFAULT (the guest touched a poisoned IPA)`);
      const exit = r.exit;
      if (r.ret < 0 || !exit) return yield* this.destroy();
      switch (exit.exit_reason) {
        case "KVM_EXIT_HLT":
          yield* this.vcpuHalted();
          return;
        case "KVM_EXIT_MMIO":
          yield* this.onPost(exit.value);
          continue;
        default:
          return yield* this.destroy();
      }
    }
  }

  protected *act(action: HostAction): Flow<void> {
    switch (action.op) {
      case "read-shared":
        for (let gpa = action.gpa; gpa < action.gpa + action.size; gpa += PAGE_4K) yield* this.vmmRead(gpa);
        return;
      case "discard":
      case "punch-hole": {
        const r =
          this.kvm.options.variant === "gmem"
            ? yield* call(KVM, { type: "fallocate", fd: 10, mode: 3, offset: action.gpa, len: action.size })
            : yield* call(KVM, {
                type: "madvise",
                gpa: action.gpa,
                size: action.size,
                advice: "MADV_DONTNEED",
              });
        if (r.ret !== 0)
          this.io.effect({ e: "fault", by: VMM, kind: r.type, gpa: action.gpa, detail: `refused: ${r.ret}` });
        return;
      }
      case "kernel-read":
        // The host kernel, not the VMM, makes this access (EL1).
        return yield* this.inKernel(this.kvm.kernelRead(action.gpa));
      case "unmap":
        return yield* this.inKernel(this.kvm.unmapFlow(action.gpa));
      case "set-attributes":
        return;
    }
  }

  /** Run a host-kernel flow (it speaks from host/kvm) and wait for it to finish. */
  private *inKernel(flow: Flow<void>): Flow<void> {
    const done = "vmm:kernel-flow";
    yield* lock(done);
    const tasks = this.tasks;
    this.tasks.spawn(
      KVM,
      (function* () {
        yield* flow;
        tasks.unlock(done);
      })(),
    );
    yield* lock(done);
    this.tasks.unlock(done);
  }

  /** The VMM (EL0) reading guest memory through its own mapping. */
  private *vmmRead(gpa: number): Flow<void> {
    const gfn = Math.floor(gpa / PAGE_4K);
    const hpa = this.kvm.backing.get(gfn);
    if (hpa === undefined) return;
    if (this.kvm.options.variant === "gmem" && !this.kvm.sharedByGuest.has(gfn)) {
      // guest_memfd maps only pages the guest shared: a fault on a private one is SIGBUS.
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
    const r = yield* call("hw", { type: "host.access", op: "read", hpa });
    if (r.outcome.result === "abort") {
      this.io.effect({
        e: "fault",
        by: VMM,
        kind: "SIGSEGV",
        gpa,
        hpa,
        detail: "SEGV_ACCERR: the page belongs to the guest",
      });
    }
  }
}
