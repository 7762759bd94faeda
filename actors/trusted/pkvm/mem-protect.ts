// pKVM's EL2 memory protection: host stage-2 ownership, hyp pages, and each protected VM's
// stage-2. Every call validates its arguments, checks the state of every component involved
// against its row in TRANSITIONS, and only then mutates (mem_protect.c's rule: a failure after
// the checks would be a hyp panic, so nothing is ever half-applied). Each call is one atomic step:
// EL2 runs with interrupts masked and preemption off.
import {
  type Content,
  EAGAIN,
  EBUSY,
  EFAULT,
  EHWPOISON,
  EINVAL,
  ENOENT,
  EPERM,
  type Owner,
  type PageState,
  SMCCC_RET_NOT_SUPPORTED,
} from "../../../protocol/index.ts";
import type { PkvmProfile } from "../../../protocol/profiles.ts";
import type { FrameStore } from "../../../src/hardware/frames.ts";
import type { PartyIO } from "../../../src/kit/outbox.ts";
import { type Change, type PkvmCall, TRANSITIONS } from "./page-state.ts";

/** A host page given away: invalid in the host stage-2, annotated with its owner. */
interface HostAnnotation {
  owner: "hyp" | "guest";
  handle?: number;
  gfn?: number;
}

export interface GuestMapping {
  pfn: number;
  state: PageState;
}

export interface HypVm {
  readonly handle: number;
  readonly protected: boolean;
  readonly nrVcpus: number;
  dying: boolean;
  readonly loaded: Set<number>;
  /** Guest stage-2: gfn -> page and the guest's state for it. Absent: NOPAGE. */
  readonly s2: Map<number, GuestMapping>;
  /** The vCPU's last fault was on a poisoned IPA (for __pkvm_vcpu_in_poison_fault). */
  readonly poisonFault: Set<number>;
}

export class PkvmMemProtect {
  /** Host pages in a state other than OWNED (the host stage-2 identity map is the default). */
  private readonly hostState = new Map<number, PageState>();
  private readonly annotations = new Map<number, HostAnnotation>();
  /** Pages EL2 holds: absent = NOPAGE. */
  private readonly hypState = new Map<number, PageState>();
  readonly hypPins = new Map<number, number>();
  /** How many guest mappings share a host page (non-protected VMs). */
  private readonly shareCount = new Map<number, number>();
  readonly vms = new Map<number, HypVm>();
  private nextHandle = 1;

  constructor(
    private readonly frames: FrameStore,
    private readonly io: PartyIO,
    /** Host RAM, in pages: a pfn beyond it is not memory. */
    private readonly ramPages: number,
    /** The pKVM version followed (android16-6.12 or 7.1). */
    private readonly profile: PkvmProfile,
    /** A deliberately broken hypervisor (attack A11): pages leave the guest without hyp_poison_page. */
    private readonly mutant: { skipPoison?: boolean } = {},
  ) {}

  // ---- component state (the mem_protect.c helpers) ----

  host_get_page_state(pfn: number): PageState {
    return this.hostState.get(pfn) ?? "PKVM_PAGE_OWNED";
  }

  hyp_get_page_state(pfn: number): PageState {
    return this.hypState.get(pfn) ?? "PKVM_NOPAGE";
  }

  guest_get_page_state(vm: HypVm, gfn: number): PageState {
    return vm.s2.get(gfn)?.state ?? "PKVM_NOPAGE";
  }

  annotation(pfn: number): HostAnnotation | undefined {
    return this.annotations.get(pfn);
  }

  /** May the host stage-2 map this page (OWNED, SHARED_OWNED or SHARED_BORROWED)? */
  hostMaps(pfn: number): boolean {
    const state = this.host_get_page_state(pfn);
    return state !== "PKVM_NOPAGE" && state !== "PKVM_POISON";
  }

  /** The guest stage-2 leaf the MMU walks for a VM's IPA frame. */
  guestLeaf(handle: number, gfn: number): { pfn: number; poisoned: boolean } | undefined {
    const mapping = this.vms.get(handle)?.s2.get(gfn);
    return mapping && { pfn: mapping.pfn, poisoned: mapping.state === "PKVM_POISON" };
  }

  // ---- host <-> hyp ----

  hostShareHyp(pfn: number): number {
    const bad = this.check("__pkvm_host_share_hyp", pfn);
    if (bad) return bad;
    this.apply("__pkvm_host_share_hyp", pfn);
    return 0;
  }

  hostUnshareHyp(pfn: number): number {
    const bad = this.check("__pkvm_host_unshare_hyp", pfn);
    if (bad) return bad;
    if ((this.hypPins.get(pfn) ?? 0) > 0) return EBUSY;
    this.apply("__pkvm_host_unshare_hyp", pfn);
    return 0;
  }

  hostDonateHyp(pfn: number, nrPages: number): number {
    for (let p = pfn; p < pfn + nrPages; p++) {
      const bad = this.check("__pkvm_host_donate_hyp", p);
      if (bad) return bad;
    }
    for (let p = pfn; p < pfn + nrPages; p++) {
      this.apply("__pkvm_host_donate_hyp", p);
      this.annotations.set(p, { owner: "hyp" });
      this.owner(p, "host", "hyp");
    }
    return 0;
  }

  hypDonateHost(pfn: number, nrPages: number): number {
    for (let p = pfn; p < pfn + nrPages; p++) {
      const bad = this.check("__pkvm_hyp_donate_host", p);
      if (bad) return bad;
    }
    for (let p = pfn; p < pfn + nrPages; p++) {
      this.apply("__pkvm_hyp_donate_host", p);
      this.annotations.delete(p);
      this.owner(p, "hyp", "host");
    }
    return 0;
  }

  /** EL2 pins a page the host shared with it (hyp_pin_shared_mem). */
  hypPinSharedMem(pfn: number): number {
    if (this.host_get_page_state(pfn) !== "PKVM_PAGE_SHARED_OWNED") return EPERM;
    if (this.hyp_get_page_state(pfn) !== "PKVM_PAGE_SHARED_BORROWED") return EPERM;
    this.hypPins.set(pfn, (this.hypPins.get(pfn) ?? 0) + 1);
    return 0;
  }

  hypUnpinSharedMem(pfn: number): void {
    const pins = (this.hypPins.get(pfn) ?? 0) - 1;
    if (pins > 0) this.hypPins.set(pfn, pins);
    else this.hypPins.delete(pfn);
  }

  // ---- VMs ----

  initVm(isProtected: boolean, nrVcpus: number): number {
    const handle = this.nextHandle++;
    this.vms.set(handle, {
      handle,
      protected: isProtected,
      nrVcpus,
      dying: false,
      loaded: new Set(),
      s2: new Map(),
      poisonFault: new Set(),
    });
    return handle;
  }

  vcpuLoad(handle: number, vcpu: number): number {
    const vm = this.vms.get(handle);
    if (!vm || vm.dying || vcpu >= vm.nrVcpus || vm.loaded.has(vcpu)) return EINVAL;
    vm.loaded.add(vcpu);
    return 0;
  }

  vcpuPut(vcpu: number): number {
    const vm = this.vmLoading(vcpu);
    if (!vm) return EINVAL;
    vm.loaded.delete(vcpu);
    return 0;
  }

  /** The VM whose vCPU `vcpu` is loaded (pKVM: the loaded hyp vCPU names the VM). */
  vmLoading(vcpu: number): HypVm | undefined {
    for (const vm of this.vms.values()) if (vm.loaded.has(vcpu)) return vm;
    return undefined;
  }

  // ---- host -> guest ----

  /** host OWNED -> NOPAGE annotated {GUEST, handle, gfn}; guest NOPAGE -> OWNED. Not zeroed. */
  hostDonateGuest(pfn: number, gfn: number, vcpu: number): number {
    const vm = this.vmLoading(vcpu);
    if (!vm) return EINVAL;
    const bad = this.check("__pkvm_host_donate_guest", pfn, vm, gfn);
    if (bad) return bad;
    this.apply("__pkvm_host_donate_guest", pfn, vm, gfn);
    this.annotations.set(pfn, { owner: "guest", handle: vm.handle, gfn });
    this.owner(pfn, "host", "guest");
    return 0;
  }

  /** Non-protected VMs: host OWNED/SHARED_OWNED -> SHARED_OWNED (count++), guest NOPAGE -> SHARED_BORROWED. */
  hostShareGuest(pfn: number, gfn: number, nrPages: number, vcpu: number): number {
    const vm = this.vmLoading(vcpu);
    if (!vm || nrPages !== 1) return EINVAL;
    if (this.host_get_page_state(pfn) === "PKVM_PAGE_SHARED_OWNED" && (this.shareCount.get(pfn) ?? 0) === 0) {
      return EPERM;
    }
    const bad = this.check("__pkvm_host_share_guest", pfn, vm, gfn);
    if (bad) return bad;
    this.apply("__pkvm_host_share_guest", pfn, vm, gfn);
    this.shareCount.set(pfn, (this.shareCount.get(pfn) ?? 0) + 1);
    return 0;
  }

  hostUnshareGuest(handle: number, gfn: number, nrPages: number): number {
    const vm = this.vms.get(handle);
    if (!vm || nrPages !== 1) return EINVAL;
    const mapping = vm.s2.get(gfn);
    if (!mapping) return ENOENT;
    const pfn = mapping.pfn;
    if (mapping.state !== "PKVM_PAGE_SHARED_BORROWED") return EPERM;
    if (this.host_get_page_state(pfn) !== "PKVM_PAGE_SHARED_OWNED") return EPERM;
    const count = (this.shareCount.get(pfn) ?? 0) - 1;
    if (count < 0) return EINVAL;
    this.guestSet(vm, gfn, pfn, "PKVM_PAGE_SHARED_BORROWED", "PKVM_NOPAGE");
    if (count === 0) {
      this.shareCount.delete(pfn);
      this.hostSet(pfn, "PKVM_PAGE_OWNED");
    } else this.shareCount.set(pfn, count);
    return 0;
  }

  /**
   * Write-protect (or unmap) a guest mapping: never allowed on a protected VM. ACK16's handler
   * finds the VM with get_pkvm_hyp_vm() and __pkvm_host_wrprotect_guest() says -EPERM (with a
   * WARN); 7.1's uses get_np_pkvm_hyp_vm(), NULL for a protected VM: -EINVAL (hyp-main.c).
   */
  hostWrprotectGuest(handle: number, gfn: number): number {
    const vm = this.vms.get(handle);
    if (!vm || vm.dying) return EINVAL;
    if (vm.protected) return this.profile.protectedUnmap === "el2-eperm" ? EPERM : EINVAL;
    return vm.s2.has(gfn) ? 0 : ENOENT;
  }

  // ---- guest-initiated ----

  /** MEM_SHARE: ENOENT (the IPA maps nothing) makes EL2 fake a data abort so the host donates first. */
  guestShareHost(vm: HypVm, gfn: number): number {
    const mapping = vm.s2.get(gfn);
    if (!mapping) return ENOENT;
    const bad = this.check("MEM_SHARE", mapping.pfn, vm, gfn);
    if (bad) return bad;
    this.apply("MEM_SHARE", mapping.pfn, vm, gfn);
    this.annotations.delete(mapping.pfn);
    return 0;
  }

  guestUnshareHost(vm: HypVm, gfn: number): number {
    const mapping = vm.s2.get(gfn);
    if (!mapping) return EPERM;
    const bad = this.check("MEM_UNSHARE", mapping.pfn, vm, gfn);
    if (bad) return bad;
    this.apply("MEM_UNSHARE", mapping.pfn, vm, gfn);
    this.annotations.set(mapping.pfn, { owner: "guest", handle: vm.handle, gfn });
    return 0;
  }

  /**
   * MEM_RELINQUISH (ACK16 __pkvm_guest_relinquish_to_host()): poison, unmap the IPA (NOPAGE: may
   * be populated again), host OWNED. No page there: 0 and nothing released. Not in 7.1.
   */
  guestRelinquish(vm: HypVm, gfn: number): { ret: number; released: boolean } {
    if (!this.profile.relinquish) return { ret: SMCCC_RET_NOT_SUPPORTED, released: false };
    const mapping = vm.s2.get(gfn);
    if (!mapping) return { ret: 0, released: false };
    const bad = this.check("MEM_RELINQUISH", mapping.pfn, vm, gfn);
    if (bad) return { ret: bad, released: false };
    this.poisonPage(mapping.pfn, gfn, "MEM_RELINQUISH");
    this.apply("MEM_RELINQUISH", mapping.pfn, vm, gfn);
    vm.s2.delete(gfn);
    this.annotations.delete(mapping.pfn);
    this.owner(mapping.pfn, "guest", "host", "PKVM_PAGE_OWNED");
    return { ret: 0, released: true };
  }

  // ---- reclaim ----

  /**
   * 7.1 __pkvm_host_force_reclaim_page_guest(): the host kernel touched a guest page; the IPA
   * becomes POISON, the page is zeroed and returned. Its checks in order: memory (-EFAULT); a
   * host state that should no longer fault (-EAGAIN: retry the access); a donation to a guest
   * (-EINVAL / -EPERM); the VM (-EAGAIN: raced with teardown); the guest PTE (-EHWPOISON,
   * -ENOENT); guest-owned (-EPERM). android16-6.12 has no such host hypercall.
   */
  forceReclaimGuestPage(pfn: number): number {
    if (this.profile.hostKernelTouch !== "force-reclaim") return SMCCC_RET_NOT_SUPPORTED;
    if (pfn >= this.ramPages) return EFAULT;
    const hostState = this.host_get_page_state(pfn);
    if (hostState !== "PKVM_NOPAGE") return hostState === "PKVM_POISON" ? EPERM : EAGAIN;
    const note = this.annotations.get(pfn);
    if (!note) return EINVAL;
    if (note.owner !== "guest") return EPERM;
    const vm = this.vms.get(note.handle!);
    if (!vm) return EAGAIN;
    const guestState = this.guest_get_page_state(vm, note.gfn!);
    if (guestState === "PKVM_POISON") return EHWPOISON;
    if (guestState === "PKVM_NOPAGE") return ENOENT;
    const bad = this.check("__pkvm_force_reclaim_guest_page", pfn, vm, note.gfn!);
    if (bad) return bad;
    this.poisonPage(pfn, note.gfn!, "__pkvm_force_reclaim_guest_page");
    this.apply("__pkvm_force_reclaim_guest_page", pfn, vm, note.gfn!);
    vm.s2.set(note.gfn!, { pfn, state: "PKVM_POISON" });
    this.annotations.delete(pfn);
    this.owner(pfn, "guest", "host", "PKVM_PAGE_OWNED");
    return 0;
  }

  /** ACK16: -ENOENT unknown, -EBUSY a vCPU loaded, -EINVAL already dying; 7.1: -EINVAL for all. */
  startTeardown(handle: number): number {
    const distinct = this.profile.teardownErrnos === "distinct";
    const vm = this.vms.get(handle);
    if (!vm) return distinct ? ENOENT : EINVAL;
    if (vm.loaded.size > 0) return distinct ? EBUSY : EINVAL;
    if (vm.dying) return EINVAL;
    vm.dying = true;
    return 0;
  }

  /** A dying VM's page back to the host: poisoned (zeroed) if the guest owned it, as-is if shared. */
  reclaimDyingGuestPage(handle: number, gfn: number): number {
    const vm = this.vms.get(handle);
    if (!vm?.dying) return EINVAL;
    const mapping = vm.s2.get(gfn);
    if (!mapping) return ENOENT;
    const { pfn, state } = mapping;
    if (state === "PKVM_POISON") {
      vm.s2.delete(gfn);
      return 0;
    }
    const bad = this.check("__pkvm_reclaim_dying_guest_page", pfn, vm, gfn);
    if (bad) return bad;
    if (state === "PKVM_PAGE_OWNED") this.poisonPage(pfn, gfn, "__pkvm_reclaim_dying_guest_page");
    this.apply("__pkvm_reclaim_dying_guest_page", pfn, vm, gfn);
    vm.s2.delete(gfn);
    this.annotations.delete(pfn);
    this.owner(pfn, "guest", "host", state);
    return 0;
  }

  /**
   * ACK16: -ENOENT unknown, -EBUSY not dying; 7.1: -EINVAL for both. Neither checks that every
   * page was reclaimed: a page left behind keeps its guest annotation, never the host's again.
   */
  finalizeTeardown(handle: number): number {
    const distinct = this.profile.teardownErrnos === "distinct";
    const vm = this.vms.get(handle);
    if (!vm) return distinct ? ENOENT : EINVAL;
    if (!vm.dying) return distinct ? EBUSY : EINVAL;
    this.vms.delete(handle);
    return 0;
  }

  // ---- the check-then-mutate core ----

  /** 0 if every component the call touches is in a state its row allows; else the errno. */
  private check(call: PkvmCall, pfn: number, vm?: HypVm, gfn?: number): number {
    if (pfn >= this.ramPages) return EPERM;
    const row = TRANSITIONS[call];
    const wrong = row.wrongState === "-ENOENT" ? ENOENT : EPERM;
    if (row.host && !row.host.from.includes(this.host_get_page_state(pfn))) return wrong;
    if (row.hyp && !row.hyp.from.includes(this.hyp_get_page_state(pfn))) return wrong;
    if (row.guest && vm && gfn !== undefined && !allows(row.guest, this.guest_get_page_state(vm, gfn)))
      return wrong;
    return 0;
  }

  private apply(call: PkvmCall, pfn: number, vm?: HypVm, gfn?: number): void {
    const row = TRANSITIONS[call];
    if (row.host) this.hostSet(pfn, row.host.to);
    if (row.hyp) this.hypSet(pfn, row.hyp.to);
    if (row.guest && vm && gfn !== undefined)
      this.guestSet(vm, gfn, pfn, this.guest_get_page_state(vm, gfn), row.guest.to);
  }

  private hostSet(pfn: number, state: PageState): void {
    if (state === "PKVM_PAGE_OWNED") this.hostState.delete(pfn);
    else this.hostState.set(pfn, state);
  }

  private hypSet(pfn: number, state: PageState): void {
    if (state === "PKVM_NOPAGE") this.hypState.delete(pfn);
    else this.hypState.set(pfn, state);
  }

  private guestSet(vm: HypVm, gfn: number, pfn: number, from: PageState, to: PageState): void {
    if (to === "PKVM_NOPAGE") vm.s2.delete(gfn);
    else vm.s2.set(gfn, { pfn, state: to });
    this.io.effect({ e: "stage2", by: "fw", gpa: gfn * 0x1000, level: 0, from, to, hpa: pfn * 0x1000 });
  }

  /** hyp_poison_page(): zero the page and clean it to the point of coherency. */
  private poisonPage(pfn: number, gfn: number, path: PoisonPath): void {
    if (this.mutant.skipPoison) return;
    this.frames.set(pfn, { content: ZERO, keyId: 0, poisoned: false });
    this.io.effect({
      e: "zero",
      by: "fw",
      hpa: pfn * 0x1000,
      gpa: gfn * 0x1000,
      pages: 1,
      why: `hyp_poison_page (${path})`,
      keyId: 0,
    });
  }

  /** The page changes owner; one leaving a guest says what the guest had made of it. */
  private owner(pfn: number, from: Owner, to: Owner, guestState?: PageState): void {
    this.io.effect(
      guestState === undefined
        ? { e: "owner", by: "fw", hpa: pfn * 0x1000, pages: 1, from, to }
        : { e: "owner", by: "fw", hpa: pfn * 0x1000, pages: 1, from, to, guestState },
    );
  }
}

const ZERO: Content = { k: "zero" };

/** The paths a page leaves a guest by, each poisoned (zeroed) by EL2. */
type PoisonPath = "MEM_RELINQUISH" | "__pkvm_force_reclaim_guest_page" | "__pkvm_reclaim_dying_guest_page";
const allows = (change: Change, state: PageState) => change.from.includes(state);
