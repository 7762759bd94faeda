// Effects: what a party did to state it owns, logged with the address that caused it. Hardware
// effects (read, write, zero, fault, poison, #MC) are the evidence monitors and timelines use.
// Every field a monitor matches on is an enum defined here, once: the parties that log an effect
// and the monitors that read it use the same names, so rewording one is a type error, not a check
// silently switched off.
import { z } from "zod";
import { Addr, Address, Content, Level } from "./common.ts";

/**
 * Secure EPT entry states as the TDX module names them (intel/tdx-module
 * include/auto_gen/sept_state_lookup.h, TDX 1.5). Simplified: REMOVED and the migration states
 * (EXPORTED_*, BLOCKEDW) are not modelled.
 */
export const SeptState = z.enum([
  "FREE",
  "NL_MAPPED",
  "NL_BLOCKED",
  "MAPPED",
  "PENDING",
  "BLOCKED",
  "PENDING_BLOCKED",
]);
export type SeptState = z.infer<typeof SeptState>;
export const SEPT_STATES = SeptState.options;

/** pKVM's per-component page states (enum pkvm_page_state, arch/arm64/kvm/hyp/include/nvhe/mem_protect.h). */
export const PageState = z.enum([
  "PKVM_PAGE_OWNED",
  "PKVM_PAGE_SHARED_OWNED",
  "PKVM_PAGE_SHARED_BORROWED",
  "PKVM_NOPAGE",
  "PKVM_POISON",
]);
export type PageState = z.infer<typeof PageState>;
export const PAGE_STATES = PageState.options;

/** What the TDX module's PAMT records a page as (intel/tdx-module pamt_manager.h). */
export const PamtPageType = z.enum(["PT_TDR", "PT_TDVPR", "PT_EPT", "PT_REG"]);
export type PamtPageType = z.infer<typeof PamtPageType>;

/** Who a frame belongs to: the host, a TD (TDX), the hypervisor or a protected guest (pKVM). */
export const Owner = z.enum(["host", "TD", "hyp", "guest"]);
export type Owner = z.infer<typeof Owner>;

/** Why a host clears a page (the `why` a host may give the hardware for a clear). */
export const HostZeroReason = z.enum([
  /** KVM after TDH.MEM.PAGE.REMOVE: full-line writes before the page is reused (tdx_clear_page()). */
  "tdx_clear_page",
  /** KVM after TDH.PHYMEM.PAGE.RECLAIM of a control or S-EPT page (tdx_reclaim_page()). */
  "tdx_reclaim_page",
  /** guest_memfd clears a fresh folio before the guest gets it (kvm_gmem_prepare_folio()). */
  "guest_memfd first use",
  /** The host kernel zero-fills anonymous memory on its first touch. */
  "anonymous page first touch",
  /** A host clear with no reason given: ordinary stores, or full-line writes. */
  "clear_page",
  "MOVDIR64B",
]);
export type HostZeroReason = z.infer<typeof HostZeroReason>;

/** Why a frame was zeroed: a host's reason, or the trusted entity's own duty. */
export const ZeroReason = z.enum([
  ...HostZeroReason.options,
  /** The TDX module zeroes a PENDING page with the TD's key as the guest accepts it. */
  "TDG.MEM.PAGE.ACCEPT",
  /** pKVM EL2 zeroes a page leaving a guest (hyp_poison_page()), on each path it can leave by. */
  "hyp_poison_page (MEM_RELINQUISH)",
  "hyp_poison_page (__pkvm_force_reclaim_guest_page)",
  "hyp_poison_page (__pkvm_reclaim_dying_guest_page)",
]);
export type ZeroReason = z.infer<typeof ZeroReason>;

/** What went wrong on an access or a call, as the party that saw it logs it. */
export const FaultKind = z.enum([
  /** TDX: a virtualization exception on a PENDING page (a TD without SEPT_VE_DISABLE). */
  "#VE",
  /** KVM let the vCPU fault again rather than map (an invalidation raced the fault). */
  "RET_PF_RETRY",
  /** The guest's conversion did not happen (MapGPA or MEM_SHARE refused). */
  "conversion-failed",
  /** The guest caught a MapGPA RETRY that points outside the range it asked for. */
  "bad-retry",
  /** A page the trusted entity would not give back, leaked rather than reused. */
  "leaked",
  /** pKVM: the guest touched an IPA whose page was taken away (KVM_RUN then fails). */
  "stage-2 abort",
  "poisoned IPA",
  /** pKVM: a host access to a page its stage-2 does not map; at EL0 it is SIGSEGV, at EL1 an oops. */
  "host stage-2 abort",
  "SIGSEGV",
  "die_kernel_fault",
  /** pKVM: an EL1 uaccess (copy_from_user) to a donated page, fixed up to -EFAULT. */
  "uaccess -EFAULT",
  /** pKVM gmem host: the VMM's mmap of guest_memfd faulted on a private page. */
  "SIGBUS",
  /** pKVM: EL2 refused to unmap, or the host to discard, a page a protected guest owns. */
  "unmap refused",
  "discard refused",
  /** pKVM: the host may not delete a protected VM's memslot. */
  "memslot refused",
  /** pKVM: __pkvm_start_teardown_vm kept failing. */
  "teardown",
]);
export type FaultKind = z.infer<typeof FaultKind>;

/** Milestones of a party's or the VM's life that the verdict and the timelines read. */
export const LifecycleState = z.enum([
  /** The guest: every vCPU ran its workload to the end. */
  "workload-complete",
  /** The VMM: the TD is finalized (its MRTD in the detail). */
  "td-finalized",
  /** The host killed the VM, or the VMM gave up on it: it will not run again. */
  "vm-killed",
  /** The host: the VM is torn down and every page reclaimed. */
  "torn-down",
  /** The TDX module: the TD is finalized (TDH.MR.FINALIZE), and its key freed (TDH.MNG.KEY.FREEID). */
  "RUNNABLE",
  "TD_TEARDOWN",
]);
export type LifecycleState = z.infer<typeof LifecycleState>;

export const Effect = z.discriminatedUnion("e", [
  /** A party observed a frame's content (guest load, host load, module copy source). */
  z.strictObject({ e: z.literal("read"), by: Address, hpa: Addr, gpa: Addr.optional(), content: Content }),
  z.strictObject({ e: z.literal("write"), by: Address, hpa: Addr, gpa: Addr.optional(), content: Content }),
  /** Frames cleared, by whom and why. */
  z.strictObject({
    e: z.literal("zero"),
    by: Address,
    hpa: Addr,
    gpa: Addr.optional(),
    pages: z.number().int().positive(),
    why: ZeroReason,
    keyId: z.number().int(),
  }),
  z.strictObject({
    e: z.literal("fault"),
    by: Address,
    kind: FaultKind,
    gpa: Addr.optional(),
    hpa: Addr.optional(),
    detail: z.string(),
  }),
  z.strictObject({ e: z.literal("poison"), by: Address, hpa: Addr, detail: z.string() }),
  z.strictObject({ e: z.literal("mc"), by: Address, hpa: Addr, detail: z.string() }),
  /**
   * Frames changed owner. TDX: the PAMT (`pageType`); "host" means free for host use. pKVM: the
   * host stage-2's annotation; a page leaving a guest says what the guest had made of it
   * (`guestState`: OWNED, or SHARED_OWNED if it was shared).
   */
  z.strictObject({
    e: z.literal("owner"),
    by: Address,
    hpa: Addr,
    pages: z.number().int().positive(),
    from: Owner,
    to: Owner,
    pageType: PamtPageType.optional(),
    guestState: PageState.optional(),
  }),
  /** A Secure EPT entry changed state (TDX). */
  z.strictObject({
    e: z.literal("sept"),
    by: Address,
    gpa: Addr,
    level: Level,
    from: SeptState,
    to: SeptState,
    /** The page the leaf maps (leaf states). */
    hpa: Addr.optional(),
    /** The S-EPT page a non-leaf entry points to (NL_* states). */
    spt: Addr.optional(),
    /** DEMOTE: the state of the 512 new 4K leaves. */
    children: SeptState.optional(),
  }),
  /** A protected guest's stage-2 entry changed state at EL2 (pKVM). */
  z.strictObject({
    e: z.literal("stage2"),
    by: Address,
    gpa: Addr,
    level: Level,
    from: PageState,
    to: PageState,
    hpa: Addr,
  }),
  /** Shared EPT leaf installed or removed by KVM. */
  z.strictObject({
    e: z.literal("ept"),
    by: Address,
    gpa: Addr,
    hpa: Addr.optional(),
    op: z.enum(["map", "zap"]),
  }),
  /** Host bookkeeping: memory attribute and guest_memfd backing changes. */
  z.strictObject({ e: z.literal("attr"), by: Address, gpa: Addr, size: Addr, private: z.boolean() }),
  /** A guest_memfd folio allocated or freed: `gpa` is the folio's first GPA. */
  z.strictObject({
    e: z.literal("gmem"),
    by: Address,
    /** The GPA a memslot binds the page to; absent for a page no memslot binds. */
    gpa: Addr.optional(),
    hpa: Addr,
    pages: z.number().int().positive(),
    op: z.enum(["alloc", "free"]),
  }),
  /** Guest bookkeeping: pages it believes accepted / private / shared. */
  z.strictObject({ e: z.literal("accepted"), by: Address, gpa: Addr, size: Addr }),
  z.strictObject({
    e: z.literal("guest-view"),
    by: Address,
    gpa: Addr,
    size: Addr,
    view: z.enum(["private", "shared"]),
  }),
  /** The guest acted on a request it read from memory: what it checked, and what it then used. */
  z.strictObject({ e: z.literal("consumed"), by: Address, gpa: Addr, checked: Content, used: Content }),
  /** Lifecycle of the TD / VM and of parties. */
  z.strictObject({
    e: z.literal("lifecycle"),
    by: Address,
    state: LifecycleState,
    detail: z.string().optional(),
  }),
  /** The guest stopped itself (a detection). */
  z.strictObject({ e: z.literal("terminated"), by: Address, reason: z.string() }),
]);
export type Effect = z.infer<typeof Effect>;
export type EffectKind = Effect["e"];
