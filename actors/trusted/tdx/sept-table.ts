// The S-EPT legality table as data: for each call, the outcome in each entry state. It mirrors the
// TDX module's own S-EPT state lookup plus the handler checks (intel/tdx-module, TDX 1.5:
// include/auto_gen/sept_state_lookup.c, src/vmm_dispatcher/api_calls/tdh_mem_*.c). The module
// runs on it and `cocomem describe tdx` prints it.
// Simplified: REMOVED and the migration (EXPORTED_*, BLOCKEDW) states are not modelled.
import type { SeptState, TdxStatusName } from "../../../protocol/index.ts";

export type LeafState = Extract<SeptState, "MAPPED" | "PENDING" | "BLOCKED" | "PENDING_BLOCKED">;
export type NonLeafState = Extract<SeptState, "NL_MAPPED" | "NL_BLOCKED">;

export type OpState = "UNINIT" | "INITIALIZED" | "RUNNABLE";

/** What a call does to an entry in one state. */
export type SeptRule =
  /** Legal: the entry moves to `to`; `tracked` means the block epoch must have been tracked first. */
  | { readonly to: SeptState | "DEMOTED" | "PROMOTED"; readonly tracked?: true; readonly note?: string }
  /** Refused with this status (operand id RCX in the low bits, as the module reports it). */
  | { readonly status: TdxStatusName; readonly note?: string }
  /** TDG.MEM.PAGE.ACCEPT only: no status; the TD exits to the host with an EPT violation. */
  | { readonly exit: "EPT_VIOLATION" };

export type SeptCall =
  | "TDH.MEM.PAGE.ADD"
  | "TDH.MEM.SEPT.ADD"
  | "TDH.MEM.PAGE.AUG"
  | "TDH.MEM.RANGE.BLOCK"
  | "TDH.MEM.RANGE.UNBLOCK"
  | "TDH.MEM.PAGE.REMOVE"
  | "TDH.MEM.PAGE.DEMOTE"
  | "TDH.MEM.PAGE.PROMOTE"
  | "TDH.MR.EXTEND"
  | "TDG.MEM.PAGE.ACCEPT";

export interface SeptCallSpec {
  /** Levels the call takes (0 = 4K, 1 = 2M, 2 = 1G); other levels get TDX_OPERAND_INVALID. */
  readonly levels: readonly number[];
  /** TD op states in which the call is allowed at all (else TDX_OP_STATE_INCORRECT). */
  readonly opStates: readonly OpState[];
  readonly rules: Readonly<Record<SeptState, SeptRule>>;
  /** Rules that replace `rules` while the TD is not RUNNABLE (no TLB tracking needed then). */
  readonly beforeRunnable?: Partial<Readonly<Record<SeptState, SeptRule>>>;
}

const INCORRECT: SeptRule = { status: "TDX_EPT_ENTRY_STATE_INCORRECT" };
const ALREADY_BLOCKED: SeptRule = { status: "TDX_GPA_RANGE_ALREADY_BLOCKED", note: "informational" };
const NOT_BLOCKED: SeptRule = { status: "TDX_GPA_RANGE_NOT_BLOCKED" };
const NOT_PRESENT: SeptRule = { status: "TDX_EPT_ENTRY_NOT_PRESENT" };
const EXIT: SeptRule = { exit: "EPT_VIOLATION" };
const BUILD_AND_RUN: readonly OpState[] = ["INITIALIZED", "RUNNABLE"];

export const SEPT_TABLE: Readonly<Record<SeptCall, SeptCallSpec>> = {
  "TDH.MEM.PAGE.ADD": {
    levels: [0],
    opStates: ["INITIALIZED"],
    rules: {
      FREE: { to: "MAPPED", note: "copies the source page in under the TD key; MRTD extended" },
      NL_MAPPED: INCORRECT,
      NL_BLOCKED: INCORRECT,
      MAPPED: INCORRECT,
      PENDING: INCORRECT,
      BLOCKED: INCORRECT,
      PENDING_BLOCKED: INCORRECT,
    },
  },
  "TDH.MEM.SEPT.ADD": {
    levels: [1, 2],
    opStates: BUILD_AND_RUN,
    rules: {
      FREE: { to: "NL_MAPPED", note: "the new S-EPT page becomes the child table" },
      // TDX 1.0 answered TDX_EPT_ENTRY_NOT_FREE here; current modules answer STATE_INCORRECT.
      NL_MAPPED: INCORRECT,
      NL_BLOCKED: INCORRECT,
      MAPPED: INCORRECT,
      PENDING: INCORRECT,
      BLOCKED: INCORRECT,
      PENDING_BLOCKED: INCORRECT,
    },
  },
  "TDH.MEM.PAGE.AUG": {
    levels: [0, 1],
    // op_state_lookup.c seamcall_state_lookup[6]: INITIALIZED and RUNNABLE (KVM uses PAGE.ADD before finalize).
    opStates: BUILD_AND_RUN,
    rules: {
      FREE: { to: "PENDING", note: "contents not initialised" },
      NL_MAPPED: INCORRECT,
      NL_BLOCKED: INCORRECT,
      MAPPED: INCORRECT,
      PENDING: INCORRECT,
      BLOCKED: INCORRECT,
      PENDING_BLOCKED: INCORRECT,
    },
  },
  "TDH.MEM.RANGE.BLOCK": {
    levels: [0, 1],
    opStates: BUILD_AND_RUN,
    rules: {
      FREE: INCORRECT,
      NL_MAPPED: { to: "NL_BLOCKED" },
      NL_BLOCKED: ALREADY_BLOCKED,
      MAPPED: { to: "BLOCKED", note: "records the block epoch" },
      PENDING: { to: "PENDING_BLOCKED", note: "records the block epoch" },
      BLOCKED: ALREADY_BLOCKED,
      PENDING_BLOCKED: ALREADY_BLOCKED,
    },
  },
  "TDH.MEM.RANGE.UNBLOCK": {
    levels: [0, 1],
    opStates: BUILD_AND_RUN,
    rules: {
      FREE: INCORRECT,
      NL_MAPPED: INCORRECT,
      NL_BLOCKED: { to: "NL_MAPPED", tracked: true },
      MAPPED: INCORRECT,
      PENDING: INCORRECT,
      BLOCKED: { to: "MAPPED", tracked: true },
      PENDING_BLOCKED: { to: "PENDING", tracked: true },
    },
  },
  "TDH.MEM.PAGE.REMOVE": {
    levels: [0, 1],
    opStates: BUILD_AND_RUN,
    rules: {
      FREE: INCORRECT,
      NL_MAPPED: INCORRECT,
      NL_BLOCKED: INCORRECT,
      MAPPED: NOT_BLOCKED,
      PENDING: NOT_BLOCKED,
      BLOCKED: { to: "FREE", tracked: true, note: "page handed back, not zeroed" },
      PENDING_BLOCKED: { to: "FREE", tracked: true, note: "page handed back, not zeroed" },
    },
    beforeRunnable: { MAPPED: { to: "FREE" }, PENDING: { to: "FREE" } },
  },
  "TDH.MEM.PAGE.DEMOTE": {
    levels: [1],
    opStates: BUILD_AND_RUN,
    rules: {
      FREE: INCORRECT,
      NL_MAPPED: INCORRECT,
      NL_BLOCKED: INCORRECT,
      MAPPED: NOT_BLOCKED,
      PENDING: NOT_BLOCKED,
      BLOCKED: { to: "DEMOTED", tracked: true, note: "NL_MAPPED over 512 MAPPED 4K leaves" },
      PENDING_BLOCKED: { to: "DEMOTED", tracked: true, note: "NL_MAPPED over 512 PENDING 4K leaves" },
    },
    beforeRunnable: { MAPPED: { to: "DEMOTED" }, PENDING: { to: "DEMOTED" } },
  },
  "TDH.MEM.PAGE.PROMOTE": {
    levels: [1],
    opStates: BUILD_AND_RUN,
    rules: {
      FREE: INCORRECT,
      NL_MAPPED: NOT_BLOCKED,
      NL_BLOCKED: {
        to: "PROMOTED",
        tracked: true,
        note: "512 uniform, contiguous children (else TDX_EPT_INVALID_PROMOTE_CONDITIONS)",
      },
      MAPPED: INCORRECT,
      PENDING: INCORRECT,
      BLOCKED: INCORRECT,
      PENDING_BLOCKED: INCORRECT,
    },
    beforeRunnable: { NL_MAPPED: { to: "PROMOTED", note: "no TLB tracking needed before the TD runs" } },
  },
  // tdh_mr_extend.c walks to a present leaf (leaf bit and some R/W/X permission): any other
  // entry fails the walk, reported as TDX_EPT_ENTRY_NOT_PRESENT.
  "TDH.MR.EXTEND": {
    levels: [0],
    opStates: ["INITIALIZED"],
    rules: {
      FREE: NOT_PRESENT,
      NL_MAPPED: NOT_PRESENT,
      NL_BLOCKED: NOT_PRESENT,
      MAPPED: { to: "MAPPED", note: "MRTD extended with 256 bytes of content" },
      PENDING: NOT_PRESENT,
      BLOCKED: NOT_PRESENT,
      PENDING_BLOCKED: NOT_PRESENT,
    },
  },
  "TDG.MEM.PAGE.ACCEPT": {
    levels: [0, 1],
    opStates: ["RUNNABLE"],
    rules: {
      FREE: EXIT,
      NL_MAPPED: { status: "TDX_PAGE_SIZE_MISMATCH", note: "mapped at a finer size: retry at 4K" },
      NL_BLOCKED: { status: "TDX_PAGE_SIZE_MISMATCH", note: "mapped at a finer size: retry at 4K" },
      MAPPED: { status: "TDX_PAGE_ALREADY_ACCEPTED", note: "informational; Linux treats it as fatal" },
      PENDING: { to: "MAPPED", note: "the module zeroes the page with the TD key" },
      BLOCKED: EXIT,
      PENDING_BLOCKED: EXIT,
    },
  },
};

/** The rule in force for a call, an entry state and the TD's op state. */
export function septRule(call: SeptCall, state: SeptState, opState: OpState): SeptRule {
  const spec = SEPT_TABLE[call];
  if (opState !== "RUNNABLE") {
    const early = spec.beforeRunnable?.[state];
    if (early) return early;
  }
  return spec.rules[state];
}
