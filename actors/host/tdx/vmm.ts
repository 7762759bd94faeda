// The userspace VMM (QEMU's TDX path): builds the TD, runs one thread per vCPU around KVM_RUN,
// converts memory on MapGPA hypercalls and KVM_EXIT_MEMORY_FAULT (kvm_convert_memory: attributes
// first, then discard the copy no longer in use), runs the scenario's POST-code hooks, and
// destroys the VM when every vCPU halted or the guest died.
import { type Content, PAGE_4K } from "../../../protocol/index.ts";
import type { HostAction } from "../../../protocol/scenario.ts";
import { call, type Flow, type TaskRunner } from "../../../src/kit/flows.ts";
import type { PartyIO } from "../../../src/kit/outbox.ts";
import { type MilestoneHooks, VmmBase } from "../milestones.ts";
import type { KvmTdx } from "./kvm.ts";

const VMM = "host/vmm" as const;
const KVM = "host/kvm" as const;
const KVM_MEMORY_ATTRIBUTE_PRIVATE = 1 << 3;
const PUNCH_HOLE_KEEP_SIZE = 0x3;

export interface VmmOptions extends MilestoneHooks {
  memory: number;
  septVeDisable: boolean;
  image?: { pages: string[]; measure: boolean } | undefined;
}

export class Vmm extends VmmBase {
  mrtd: string | undefined;

  constructor(
    private readonly io: PartyIO,
    private readonly tasks: TaskRunner,
    private readonly kvm: KvmTdx,
    private readonly options: VmmOptions,
  ) {
    super(options);
  }

  start(): void {
    this.tasks.spawn(VMM, this.main());
  }

  private *main(): Flow<void> {
    const { memory, vcpus, septVeDisable, image } = this.options;
    const init = yield* call(KVM, { type: "KVM_TDX_INIT_VM", septVeDisable, vcpus, gpaWidth: 48 });
    if (init.ret !== 0) return this.fail(`KVM_TDX_INIT_VM: ${init.ret}`);
    const gmem = yield* call(KVM, { type: "KVM_CREATE_GUEST_MEMFD", size: memory, flags: 0 });
    if (gmem.fd === undefined) return this.fail(`KVM_CREATE_GUEST_MEMFD: ${gmem.ret}`);
    yield* call(KVM, {
      type: "KVM_SET_USER_MEMORY_REGION2",
      slot: 0,
      guest_phys_addr: 0,
      memory_size: memory,
      guest_memfd: gmem.fd,
      guest_memfd_offset: 0,
    });
    // A TD's RAM starts private (QEMU sets the attribute over all of it).
    yield* call(KVM, {
      type: "KVM_SET_MEMORY_ATTRIBUTES",
      address: 0,
      size: memory,
      attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE,
      flags: 0,
    });
    if (image) {
      const source: Content[] = image.pages.map((tag) => ({ k: "image", tag }));
      const r = yield* call(KVM, { type: "KVM_TDX_INIT_MEM_REGION", gpa: 0, source, measure: image.measure });
      if (r.ret !== 0) return this.fail(`KVM_TDX_INIT_MEM_REGION: ${r.ret}`);
    }
    const fin = yield* call(KVM, { type: "KVM_TDX_FINALIZE_VM" });
    if (fin.ret !== 0) return this.fail(`KVM_TDX_FINALIZE_VM: ${fin.ret}`);
    this.mrtd = fin.mrtd;
    this.io.effect({ e: "lifecycle", by: VMM, state: "td-finalized", detail: `MRTD ${fin.mrtd ?? "?"}` });
    for (let vcpu = 0; vcpu < vcpus; vcpu++) this.tasks.spawn(VMM, this.vcpuThread(vcpu));
  }

  private *vcpuThread(vcpu: number): Flow<void> {
    let hypercallRet: number | undefined;
    for (;;) {
      const r = yield* call(
        KVM,
        hypercallRet === undefined ? { type: "KVM_RUN", vcpu } : { type: "KVM_RUN", vcpu, hypercallRet },
      );
      hypercallRet = undefined;
      const exit = r.exit;
      if (r.ret < 0 || !exit) return yield* this.destroy();
      switch (exit.exit_reason) {
        case "KVM_EXIT_HLT":
          yield* this.vcpuHalted();
          return;
        case "KVM_EXIT_IO":
          if (exit.port === 0x80) yield* this.onPost(exit.value);
          continue;
        case "KVM_EXIT_HYPERCALL":
          hypercallRet = yield* this.convert(exit.gpa, exit.npages * PAGE_4K, exit.encrypted);
          continue;
        case "KVM_EXIT_MEMORY_FAULT":
          if ((yield* this.convert(exit.gpa, exit.size, exit.private)) !== 0) return yield* this.destroy();
          continue;
        case "KVM_EXIT_SYSTEM_EVENT":
          return yield* this.destroy();
      }
    }
  }

  /** kvm_convert_memory(): attributes first, then drop the copy no longer in use. */
  private *convert(gpa: number, size: number, toPrivate: boolean): Flow<number> {
    const attributes = toPrivate ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
    const r = yield* call(KVM, {
      type: "KVM_SET_MEMORY_ATTRIBUTES",
      address: gpa,
      size,
      attributes,
      flags: 0,
    });
    if (r.ret !== 0) return r.ret;
    if (toPrivate) {
      this.kvm.discardShared(gpa, size);
      return 0;
    }
    const fd = this.kvm.gmem!.fd;
    const punched = yield* call(KVM, {
      type: "fallocate",
      fd,
      mode: PUNCH_HOLE_KEEP_SIZE,
      offset: gpa,
      len: size,
    });
    return punched.ret;
  }

  protected *act(action: HostAction): Flow<void> {
    switch (action.op) {
      case "discard":
      case "punch-hole": {
        const fd = this.kvm.gmem!.fd;
        yield* call(KVM, {
          type: "fallocate",
          fd,
          mode: PUNCH_HOLE_KEEP_SIZE,
          offset: action.gpa,
          len: action.size,
        });
        return;
      }
      case "set-attributes":
        yield* call(KVM, {
          type: "KVM_SET_MEMORY_ATTRIBUTES",
          address: action.gpa,
          size: action.size,
          attributes: action.private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
          flags: 0,
        });
        return;
      case "read-shared":
        for (let page = action.gpa; page < action.gpa + action.size; page += PAGE_4K) {
          const hpa = this.kvm.sharedBacking.get(page);
          if (hpa !== undefined) yield* call("hw", { type: "host.access", op: "read", hpa });
        }
        return;
      case "kernel-read": {
        // The host kernel reading a private page sees ciphertext (or #MC on erratum parts).
        const page = action.gpa - (action.gpa % PAGE_4K);
        const hpa = this.kvm.privateFrame(page);
        if (hpa !== undefined) yield* call("hw", { type: "host.access", op: "read", hpa });
        return;
      }
      case "unmap":
        // TDX has no host request to unmap one private page without removing it: nothing to try.
        return;
    }
  }

  private fail(reason: string): void {
    this.io.effect({ e: "lifecycle", by: VMM, state: "vm-killed", detail: `VMM gave up: ${reason}` });
  }
}
