// KVM's state for one TD (struct kvm + struct kvm_tdx, arch/x86/kvm/vmx/tdx.c, v7.0): the
// memslot and its guest_memfd, memory attributes, KVM's mirror of the S-EPT leaves it created,
// the S-EPT pages it donated, the invalidation sequence, per-vCPU MapGPA progress. The flows in
// build.ts, run.ts, faults.ts, map-gpa.ts, memslots.ts, conversion.ts, zap.ts and teardown.ts work on it.
import { DEFAULT_SHARED_BIT, type Effect, type Level, PAGE_2M } from "../../../protocol/index.ts";
import type { TaskRunner } from "../../../src/kit/flows.ts";
import type { PartyIO } from "../../../src/kit/outbox.ts";
import { PageMap } from "../../../src/kit/page-map.ts";
import { RangeSet } from "../../../src/kit/range-set.ts";
import type { GuestMemfd } from "../guest-memfd.ts";
import type { GuestRam } from "../guest-ram.ts";
import type { HostMemory } from "../host-memory.ts";
import type { VmLifecycle } from "../lifecycle.ts";
import { MmuInvalidation } from "./mmu-invalidate.ts";

export const KVM = "host/kvm" as const;

export interface KvmTdxOptions {
  /** Largest private mapping KVM creates: 0 = 4K (upstream today), 1 = 2M (huge page RFC). */
  privateLevel: Level;
  hkid: number;
  /** A modified KVM that sets CONFIG_FLAGS.FLEXIBLE_PENDING_VE (upstream 7.0 never does). */
  flexiblePendingVe: boolean;
  /** boot_cpu_has_bug(X86_BUG_TDX_PW_MCE): tdx_quirk_reset_page() clears what KVM takes back. */
  partialWriteErratum?: boolean;
}

/** tdx_quirk_reset_paddr() (arch/x86/virt/vmx/tdx/tdx.c): MOVDIR64B only on erratum parts. */
export const resetsPages = (vm: TdxVm): boolean => vm.options.partialWriteErratum ?? true;

/** A guest's MapGPA being forwarded to userspace in 2M chunks (tdx_map_gpa()). */
export interface MapGpaProgress {
  next: number;
  end: number;
  toShared: boolean;
}

/** A memslot (struct kvm_memory_slot): a GPA range, and where its private pages come from. */
export interface Memslot {
  readonly id: number;
  readonly gpa: number;
  readonly size: number;
  /** Offset of the slot's first page in the guest_memfd; absent: no private memory (!kvm_slot_has_gmem). */
  readonly gmemOffset: number | undefined;
  /** KVM_MEMSLOT_INVALID: being deleted; faults in it retry. */
  invalid: boolean;
}

export class TdxVm {
  gmem: GuestMemfd | undefined;
  readonly slots = new Map<number, Memslot>();
  readonly privateAttr = new RangeSet();
  /** KVM's mirror of the S-EPT leaves it created: GPA -> HPA. */
  readonly mirror4K = new PageMap();
  readonly mirror2M = new PageMap();
  /** Non-leaf SPTEs frozen while a fault links an S-EPT page under them ("level:gpa"). */
  readonly frozenSptes = new Set<string>();
  /** S-EPT pages KVM added, by 1G / 2M index of the range they map. */
  readonly tables1G = new Map<number, number>();
  readonly tables2M = new Map<number, number>();
  /** mmu_invalidate_begin() ... end(): faults in an invalidated range retry. */
  readonly invalidation = new MmuInvalidation();
  /** vCPUs kicked by a TLB-flush IPI they have not taken yet (KVM returns RETRY from MapGPA). */
  readonly pendingEvent = new Set<number>();
  readonly mapGpa = new Map<number, MapGpaProgress>();
  /** The TD's TDR page and each vCPU's TDVPR page, reclaimed at teardown (the TDR last). */
  tdr = 0;
  readonly tdvprs: number[] = [];
  vcpus = 0;
  sharedBit = DEFAULT_SHARED_BIT;
  /** KVM_RUN ioctls under way: the VM is destroyed only once every vCPU has left its ioctl. */
  runsInFlight = 0;
  /** KVM_TDX_INIT_VM under way (a second one is -EINVAL, as it would be once the first is done). */
  initializing = false;
  /** KVM_DESTROY_VM came: the VM's fd is closed, later ioctls get -EBADF. */
  closed = false;
  /** kvm->vm_dead (see killVm). */
  vmDead = false;
  /** KVM_CAP_EXIT_HYPERCALL: the hypercalls userspace asked to handle (bit 12: MapGPA). */
  exitHypercalls = 0;
  /** kvm_tdx->state == TD_STATE_RUNNABLE: KVM_TDX_FINALIZE_VM succeeded. */
  finalized = false;
  /** Frames a failed SEAMCALL left with the TD: never freed, never reused. */
  readonly leaked = new Set<number>();

  constructor(
    readonly io: PartyIO,
    readonly tasks: TaskRunner,
    readonly lifecycle: VmLifecycle,
    readonly memory: HostMemory,
    /** The VMM's anonymous memory: the shared half of guest RAM. */
    readonly ram: GuestRam,
    readonly options: KvmTdxOptions,
  ) {}

  /** kvm_destroy_vm() is under way: vCPUs no longer enter the TD. */
  get dying(): boolean {
    const state = this.lifecycle.state;
    return state === "tearing-down" || state === "destroyed";
  }

  effect(effect: Effect): void {
    this.io.effect(effect);
  }

  /** The memslot holding a GPA (gfn_to_memslot()). */
  slotFor(gpa: number): Memslot | undefined {
    for (const slot of this.slots.values()) if (gpa >= slot.gpa && gpa < slot.gpa + slot.size) return slot;
    return undefined;
  }

  /** guest_memfd offset of a GPA, through the memslot that binds it. */
  gmemOffset(gpa: number): number | undefined {
    const slot = this.slotFor(gpa);
    return slot?.gmemOffset === undefined ? undefined : gpa - slot.gpa + slot.gmemOffset;
  }

  /** The GPA ranges bound to a guest_memfd range (kvm_gmem_invalidate_begin() walks the bindings). */
  gpaRangesOf(offset: number, len: number): [number, number][] {
    const ranges: [number, number][] = [];
    for (const slot of this.slots.values()) {
      if (slot.gmemOffset === undefined) continue;
      const start = Math.max(offset, slot.gmemOffset);
      const end = Math.min(offset + len, slot.gmemOffset + slot.size);
      if (start < end) ranges.push([start - slot.gmemOffset + slot.gpa, end - slot.gmemOffset + slot.gpa]);
    }
    return ranges;
  }

  /** The frame backing a private GPA, if KVM mapped one (4K leaf or within a 2M leaf). */
  privateFrame(gpa: number): number | undefined {
    const small = this.mirror4K.get(gpa);
    if (small !== undefined) return small;
    const big = this.mirror2M.get(align(gpa, PAGE_2M));
    return big === undefined ? undefined : big + (gpa % PAGE_2M);
  }
}

export const align = (value: number, size: number): number => value - (value % size);
export const idx2M = (gpa: number): number => Math.floor(gpa / PAGE_2M);
export const idx1G = (gpa: number): number => Math.floor(gpa / 0x40000000);
/** 4K pages in a leaf of `level`: 1 or 512 (KVM maps private memory at 4K or 2M). */
export const pagesOf = (level: Level): 1 | 512 => (level === 1 ? 512 : 1);
