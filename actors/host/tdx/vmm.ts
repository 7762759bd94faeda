// The userspace VMM (QEMU's TDX path): builds the TD, runs one thread per vCPU around KVM_RUN,
// converts memory on MapGPA hypercalls and KVM_EXIT_MEMORY_FAULT (kvm_convert_memory():
// attributes first, then discard the copy no longer in use), runs the scenario's milestone hooks,
// and destroys the VM when every vCPU halted or the guest died. It reaches KVM only through ioctls
// and its own memory only through its own mapping (GuestRam).
import {
  type Content,
  EFAULT,
  FALLOC_PUNCH_HOLE,
  KVM_HC_MAP_GPA_RANGE,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
  PAGE_4K,
} from "../../../protocol/index.ts";
import { call, type Flow, type TaskRunner } from "../../../src/kit/flows.ts";
import type { PartyIO } from "../../../src/kit/outbox.ts";
import type { GuestRam } from "../guest-ram.ts";
import type { Milestones, VmmAction } from "../milestones.ts";
import { VmmBase } from "../vmm-base.ts";

const VMM = "host/vmm" as const;
const KVM = "host/kvm" as const;

export interface TdxVmmOptions {
  memory: number;
  vcpus: number;
  septVeDisable: boolean;
  image?: { pages: string[]; measure: boolean } | undefined;
  /** Give up after building the TD, before KVM_TDX_FINALIZE_VM (a VMM that fails to start). */
  stopBeforeFinalize?: boolean | undefined;
}

/** A RAM region the VMM gave KVM as a memslot (QEMU's RAMBlock with or without guest_memfd). */
interface Region {
  slot: number;
  gpa: number;
  size: number;
  guestMemfd: boolean;
}

export class TdxVmm extends VmmBase {
  /** The guest_memfd KVM_CREATE_GUEST_MEMFD gave us. */
  private gmemFd = -1;
  private readonly regions: Region[] = [];
  private nextSlot = 0;

  constructor(
    private readonly io: PartyIO,
    private readonly tasks: TaskRunner,
    private readonly ram: GuestRam,
    private readonly milestones: Milestones,
    private readonly options: TdxVmmOptions,
  ) {
    super(options.vcpus);
  }

  start(): void {
    this.tasks.spawn(VMM, this.main());
  }

  private *main(): Flow<void> {
    const { memory, vcpus, septVeDisable, image } = this.options;
    const init = yield* call(KVM, { type: "KVM_TDX_INIT_VM", septVeDisable, vcpus, gpaWidth: 48 });
    // Simplified: KVM's own error path (__tdx_td_init) cleans up a TD that failed to initialise.
    if (init.ret !== 0) return yield* this.giveUp(`KVM_TDX_INIT_VM: ${init.ret}`, false);
    // QEMU takes MapGPA in userspace: without this KVM answers it with SUBFUNC_UNSUPPORTED.
    yield* call(KVM, {
      type: "KVM_ENABLE_CAP",
      cap: "KVM_CAP_EXIT_HYPERCALL",
      args0: 1 << KVM_HC_MAP_GPA_RANGE,
    });
    const gmem = yield* call(KVM, { type: "KVM_CREATE_GUEST_MEMFD", size: memory, flags: 0 });
    if (gmem.fd === undefined) return yield* this.giveUp(`KVM_CREATE_GUEST_MEMFD: ${gmem.ret}`);
    this.gmemFd = gmem.fd;
    yield* this.addMemslot(0, memory, true);
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
      if (r.ret !== 0) return yield* this.giveUp(`KVM_TDX_INIT_MEM_REGION: ${r.ret}`);
    }
    if (this.options.stopBeforeFinalize) return yield* this.giveUp("stopped before KVM_TDX_FINALIZE_VM");
    const fin = yield* call(KVM, { type: "KVM_TDX_FINALIZE_VM" });
    if (fin.ret !== 0) return yield* this.giveUp(`KVM_TDX_FINALIZE_VM: ${fin.ret}`);
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
      if (exit?.exit_reason === "KVM_EXIT_MEMORY_FAULT" && r.ret === EFAULT) {
        // kvm_handle_memory_fault(): convert the page to what the guest asked for, or stop the VM.
        const converted = yield* this.convert(exit.gpa, exit.size, exit.private);
        if (converted !== 0)
          return yield* this.giveUp(
            `KVM_EXIT_MEMORY_FAULT at 0x${exit.gpa.toString(16)} (${exit.private ? "private" : "shared"}): cannot convert`,
          );
        continue;
      }
      if (r.ret < 0 || !exit) return yield* this.destroy();
      switch (exit.exit_reason) {
        case "KVM_EXIT_HLT":
          yield* this.vcpuHalted();
          return;
        case "KVM_EXIT_IO":
          if (exit.port === 0x80) yield* this.milestones.reached(exit.value, (action) => this.act(action));
          continue;
        case "KVM_EXIT_HYPERCALL":
          hypercallRet = yield* this.convert(exit.gpa, exit.npages * PAGE_4K, exit.encrypted);
          continue;
        case "KVM_EXIT_SYSTEM_EVENT":
          return yield* this.destroy();
      }
    }
  }

  /**
   * kvm_convert_memory(): attributes first, then drop the copy no longer in use. A range in no
   * RAM region converts to shared as a no-op and fails to private; one without guest_memfd fails.
   */
  private *convert(gpa: number, size: number, toPrivate: boolean): Flow<number> {
    const region = this.regions.find((r) => gpa >= r.gpa && gpa + size <= r.gpa + r.size);
    if (!region) return toPrivate ? -1 : 0;
    if (!region.guestMemfd) return -1;
    const r = yield* this.setAttributes(gpa, size, toPrivate);
    if (r !== 0) return r;
    if (toPrivate) {
      // ram_block_discard_range() on the shared copy: freed, not zeroed.
      this.ram.discardRange(gpa, size);
      return 0;
    }
    return yield* this.punchHole(gpa, size);
  }

  private *setAttributes(gpa: number, size: number, toPrivate: boolean): Flow<number> {
    const r = yield* call(KVM, {
      type: "KVM_SET_MEMORY_ATTRIBUTES",
      address: gpa,
      size,
      attributes: toPrivate ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
      flags: 0,
    });
    return r.ret;
  }

  /** A memslot for [gpa, gpa + size): with guest_memfd, its offset in the file is its GPA. */
  private *addMemslot(gpa: number, size: number, guestMemfd: boolean): Flow<void> {
    const slot = this.nextSlot++;
    const r = yield* call(KVM, {
      type: "KVM_SET_USER_MEMORY_REGION2",
      slot,
      flags: guestMemfd ? KVM_MEM_GUEST_MEMFD : 0,
      guest_phys_addr: gpa,
      memory_size: size,
      guest_memfd: guestMemfd ? this.gmemFd : -1,
      guest_memfd_offset: guestMemfd ? gpa : 0,
    });
    if (r.ret === 0) this.regions.push({ slot, gpa, size, guestMemfd });
  }

  private *punchHole(offset: number, len: number): Flow<number> {
    const r = yield* call(KVM, { type: "fallocate", fd: this.gmemFd, mode: FALLOC_PUNCH_HOLE, offset, len });
    return r.ret;
  }

  private *act(action: VmmAction): Flow<void> {
    switch (action.op) {
      case "discard":
      case "punch-hole":
        yield* this.punchHole(action.gpa, action.size);
        return;
      case "set-attributes":
        yield* this.setAttributes(action.gpa, action.size, action.private);
        return;
      case "add-memslot":
        yield* this.addMemslot(action.gpa, action.size, action.guestMemfd);
        return;
      case "delete-memslot": {
        const at = this.regions.findIndex((r) => action.gpa >= r.gpa && action.gpa < r.gpa + r.size);
        if (at < 0) return;
        const region = this.regions[at]!;
        this.regions.splice(at, 1);
        yield* call(KVM, {
          type: "KVM_SET_USER_MEMORY_REGION2",
          slot: region.slot,
          flags: 0,
          guest_phys_addr: region.gpa,
          memory_size: 0,
          guest_memfd: -1,
          guest_memfd_offset: 0,
        });
        return;
      }
      case "read-shared":
        for (let page = action.gpa; page < action.gpa + action.size; page += PAGE_4K) {
          const hpa = this.ram.lookup(page / PAGE_4K);
          if (hpa !== undefined) yield* call("hw", { type: "host.access", op: "read", hpa });
        }
        return;
    }
  }

  /** The VMM exits: its file descriptors close and KVM destroys the TD (if there is one). */
  private *giveUp(reason: string, created = true): Flow<void> {
    this.io.effect({ e: "lifecycle", by: VMM, state: "vm-killed", detail: `VMM gave up: ${reason}` });
    if (created) yield* this.destroy();
  }
}
