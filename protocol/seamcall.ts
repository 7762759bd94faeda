// host (KVM) <-> TDX module: SEAMCALL leaves (arch/x86/virt/vmx/tdx/tdx.c, intel/tdx-module api_calls).
// TD creation and key configuration are coarse: one call each, control pages folded into the TDR.
import { z } from "zod";
import { Addr, GpaWidth, Level, U64, VcpuId } from "./common.ts";
import { call } from "./define.ts";
import { PamtPageType } from "./effects.ts";

/** Why TDH.VP.ENTER returned: the TD exit the host must handle (VMX basic exit reasons). */
export const TdExit = z.discriminatedUnion("reason", [
  z.strictObject({
    reason: z.literal("EPT_VIOLATION"),
    gpa: Addr,
    private: z.boolean(),
    write: z.boolean(),
    /** Set when the violation came from TDG.MEM.PAGE.ACCEPT (the "accept flavour"): the level asked. */
    acceptLevel: Level.optional(),
    /**
     * Extended exit qualification type 6 (TDX_EXT_EXIT_QUAL_TYPE_PENDING_EPT_VIOLATION): the TD
     * touched a PENDING page with TD_CTLS.PENDING_VE_DISABLE set. KVM sees this, never the S-EPT
     * state (td_ept_violation.c in tdx-module 1.5; tdx_handle_ept_violation() in KVM 7.0).
     */
    eeq: z.literal("PENDING_EPT_VIOLATION").optional(),
  }),
  z.strictObject({ reason: z.literal("TDVMCALL<MapGPA>"), gpa: Addr, size: Addr }),
  z.strictObject({ reason: z.literal("TDVMCALL<ReportFatalError>"), detail: z.string() }),
  z.strictObject({ reason: z.literal("HLT") }),
  z.strictObject({ reason: z.literal("IO_INSTRUCTION"), port: z.number().int(), value: z.number().int() }),
  z.strictObject({ reason: z.literal("EXTERNAL_INTERRUPT") }),
  /** The TD can no longer run (poison consumed, fatal error): TDX_NON_RECOVERABLE_TD. */
  z.strictObject({ reason: z.literal("TD_FATAL"), detail: z.string() }),
]);
export type TdExit = z.infer<typeof TdExit>;

/** What KVM hands back into the TD on the next entry after a TDVMCALL exit (R10/R11). */
export const VmcallCompletion = z.strictObject({ status: U64, retryGpa: Addr.optional() });
export type VmcallCompletion = z.infer<typeof VmcallCompletion>;

const Status = { status: U64 };
const Page = { gpa: Addr, level: Level };

export const seamcalls = {
  "TDH.MNG.CREATE": call(
    "TDH.MNG.CREATE",
    "seamcall",
    "Create a TD: the TDR page (coarse: TDCS pages folded in) and assign its HKID.",
    { tdr: Addr, hkid: z.number().int().positive() },
    Status,
  ),
  "TDH.MNG.KEY.CONFIG": call("TDH.MNG.KEY.CONFIG", "seamcall", "Program the TD's private key.", {}, Status),
  "TDH.MNG.INIT": call(
    "TDH.MNG.INIT",
    "seamcall",
    "Initialise the TD with its TD_PARAMS: ATTRIBUTES.SEPT_VE_DISABLE (bit 28) seeds TD_CTLS.PENDING_VE_DISABLE; CONFIG_FLAGS.FLEXIBLE_PENDING_VE (bit 1) lets the guest change it. UNINIT -> INITIALIZED.",
    { septVeDisable: z.boolean(), flexiblePendingVe: z.boolean(), gpaWidth: GpaWidth },
    Status,
  ),
  "TDH.VP.CREATE": call(
    "TDH.VP.CREATE",
    "seamcall",
    "Create and initialise a vCPU (coarse: TDVPR + TDH.VP.INIT).",
    { vcpu: VcpuId, tdvpr: Addr },
    Status,
  ),
  "TDH.MEM.SEPT.ADD": call(
    "TDH.MEM.SEPT.ADD",
    "seamcall",
    "Add an S-EPT page under a FREE entry at level >= 2M (the entry becomes NL_MAPPED).",
    { gpa: Addr, level: Level, hpa: Addr },
    Status,
  ),
  "TDH.MEM.PAGE.ADD": call(
    "TDH.MEM.PAGE.ADD",
    "seamcall",
    "Build phase: copy a host source page into a FREE 4K private page; MRTD extended with the GPA.",
    { gpa: Addr, hpa: Addr, source: Addr },
    Status,
  ),
  "TDH.MR.EXTEND": call(
    "TDH.MR.EXTEND",
    "seamcall",
    "Build phase: extend MRTD with one 256-byte chunk of a MAPPED page.",
    { gpa: Addr },
    Status,
  ),
  "TDH.MR.FINALIZE": call("TDH.MR.FINALIZE", "seamcall", "MRTD final; INITIALIZED -> RUNNABLE.", {}, Status),
  "TDH.MNG.RD": call(
    "TDH.MNG.RD",
    "seamcall",
    "Read a TD metadata field (here only MRTD, as a SHA-384 hex digest).",
    { field: z.literal("MRTD") },
    { status: U64, value: z.string() },
  ),
  "TDH.MEM.PAGE.AUG": call(
    "TDH.MEM.PAGE.AUG",
    "seamcall",
    "Runtime: add a page to a FREE entry as PENDING; contents not initialised.",
    { ...Page, hpa: Addr },
    Status,
  ),
  "TDH.MEM.RANGE.BLOCK": call(
    "TDH.MEM.RANGE.BLOCK",
    "seamcall",
    "Block an entry (no new TLB entries); records the block epoch.",
    Page,
    Status,
  ),
  "TDH.MEM.RANGE.UNBLOCK": call(
    "TDH.MEM.RANGE.UNBLOCK",
    "seamcall",
    "Unblock a blocked entry back to its previous state; needs TLB tracking done.",
    Page,
    Status,
  ),
  "TDH.MEM.TRACK": call(
    "TDH.MEM.TRACK",
    "seamcall",
    "Increment the TD epoch; blocked entries become tracked once every vCPU has re-entered.",
    {},
    Status,
  ),
  "TDH.MEM.PAGE.REMOVE": call(
    "TDH.MEM.PAGE.REMOVE",
    "seamcall",
    "Remove a blocked, tracked leaf: entry FREE, page handed back (not zeroed).",
    Page,
    { status: U64, hpa: Addr.optional() },
  ),
  "TDH.MEM.PAGE.DEMOTE": call(
    "TDH.MEM.PAGE.DEMOTE",
    "seamcall",
    "Split a blocked 2M leaf into 512 4K leaves in a new S-EPT page (hpa).",
    { ...Page, hpa: Addr },
    Status,
  ),
  "TDH.MEM.PAGE.PROMOTE": call(
    "TDH.MEM.PAGE.PROMOTE",
    "seamcall",
    "Merge 512 uniform, contiguous 4K leaves under a blocked non-leaf into one 2M leaf; frees the S-EPT page.",
    Page,
    { status: U64, hpa: Addr.optional() },
  ),
  "TDH.PHYMEM.PAGE.WBINVD": call(
    "TDH.PHYMEM.PAGE.WBINVD",
    "seamcall",
    "Write back and invalidate the cache lines of a page with the TD's key (after REMOVE).",
    { hpa: Addr },
    Status,
  ),
  "TDH.VP.ENTER": call(
    "TDH.VP.ENTER",
    "seamcall",
    "Enter a vCPU; returns at the next TD exit with the exit reason. Carries a TDVMCALL completion.",
    { vcpu: VcpuId, vmcall: VmcallCompletion.optional() },
    { status: U64, exit: TdExit.optional() },
  ),
  "TDH.VP.FLUSH": call(
    "TDH.VP.FLUSH",
    "seamcall",
    "Teardown: flush a vCPU's TLB and caches.",
    { vcpu: VcpuId },
    Status,
  ),
  "TDH.MNG.VPFLUSHDONE": call(
    "TDH.MNG.VPFLUSHDONE",
    "seamcall",
    "Teardown: all vCPUs flushed; the HKID can be freed after CACHE.WB.",
    {},
    Status,
  ),
  "TDH.PHYMEM.CACHE.WB": call(
    "TDH.PHYMEM.CACHE.WB",
    "seamcall",
    "Teardown: write back caches of the TD's key on this package.",
    {},
    Status,
  ),
  "TDH.MNG.KEY.FREEID": call(
    "TDH.MNG.KEY.FREEID",
    "seamcall",
    "Teardown: release the HKID; the TD enters TD_TEARDOWN and its pages can be reclaimed.",
    {},
    Status,
  ),
  "TDH.PHYMEM.PAGE.RECLAIM": call(
    "TDH.PHYMEM.PAGE.RECLAIM",
    "seamcall",
    "Teardown: take a TD page (S-EPT, control, TDR, or data still mapped) back from the module.",
    { hpa: Addr },
    { status: U64, pageType: PamtPageType.optional() },
  ),
} as const;
