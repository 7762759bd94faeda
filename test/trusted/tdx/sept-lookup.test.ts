// The S-EPT legality table (actors/trusted/tdx/sept-table.ts) checked against the real TDX module, with
// every expectation transcribed from intel/tdx-module (branch tdx_1.5, commit 72d8cff, "TDX 1.5.01"),
// never read from the table under test: the state lookup rows, the op-state rows, the state flags,
// the leaf numbers, the error codes, and the checks each handler makes around the lookup. Each
// (call, entry state, op state) is compared twice: against septRule() (the table) and, where the
// state can be built, through TdxModule itself for the exact wire status.
import { describe, expect, it } from "vitest";
import { TD_LIFECYCLE } from "../../../actors/trusted/tdx/machine.ts";
import {
  type OpState,
  SEPT_TABLE,
  type SeptCall,
  type SeptRule,
  septRule,
} from "../../../actors/trusted/tdx/sept-table.ts";
import { type CallName, type Level, SEPT_STATES, type SeptState, u64 } from "../../../protocol/index.ts";
import { drive, gpaAt, reachable, SOURCE, SUCCESS, type Td } from "./harness.ts";

const CALLS = Object.keys(SEPT_TABLE) as SeptCall[];
const OPS: readonly OpState[] = ["UNINIT", "INITIALIZED", "RUNNABLE"];
const ACCEPT = "TDG.MEM.PAGE.ACCEPT";

// ---- Source data, transcribed ----

/**
 * Leaf numbers: include/tdx_api_defs.h, enum seamcall_leaf_opcode_t (lines 40-109) and, for ACCEPT,
 * enum tdcall_leaf_opcode_t (line 125).
 */
const LEAF: Readonly<Record<SeptCall, number>> = {
  "TDH.MEM.PAGE.ADD": 2, // TDH_MEM_PAGE_ADD_LEAF, line 42
  "TDH.MEM.SEPT.ADD": 3, // TDH_MEM_SEPT_ADD_LEAF, line 43
  "TDH.MEM.PAGE.AUG": 6, // TDH_MEM_PAGE_AUG_LEAF, line 46
  "TDH.MEM.RANGE.BLOCK": 7, // TDH_MEM_RANGE_BLOCK_LEAF, line 47
  "TDH.MEM.PAGE.DEMOTE": 15, // TDH_MEM_PAGE_DEMOTE_LEAF, line 55
  "TDH.MR.EXTEND": 16, // TDH_MR_EXTEND_LEAF, line 56
  "TDH.MEM.PAGE.PROMOTE": 23, // TDH_MEM_PAGE_PROMOTE_LEAF, line 63
  "TDH.MEM.PAGE.REMOVE": 29, // TDH_MEM_PAGE_REMOVE_LEAF, line 69
  "TDH.MEM.RANGE.UNBLOCK": 39, // TDH_MEM_RANGE_UNBLOCK_LEAF, line 79
  "TDG.MEM.PAGE.ACCEPT": 6, // TDG_MEM_PAGE_ACCEPT_LEAF (TDCALL), line 125
};

/**
 * Whole rows, verbatim: include/auto_gen/sept_state_lookup.c, seamcall_sept_state_lookup[leaf][index]
 * (lines 31-51) and, under key "tdcall 6", tdcall_sept_state_lookup[6] (line 56).
 */
const FULL_ROWS: Readonly<Record<string, readonly number[]>> = {
  2: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // line 32
  3: [1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // line 33
  6: [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // line 35
  7: [0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0], // line 36
  15: [0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0], // line 39
  16: [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // line 40
  23: [0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // line 41
  29: [0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0], // line 43
  39: [0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0], // line 45
  "tdcall 6": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0], // line 56
};

/** What the module knows about an entry state, from the sources cited per field. */
interface StateFacts {
  /** include/auto_gen/sept_state_lookup.h SEPT_STATE_<name>_ENCODING (lines 81-92). */
  readonly encoding: number;
  /** sept_state_lookup.c sept_special_flags_lookup[encoding].public_state (0x84 = NL_MAPPED, ...). */
  readonly publicState: number;
  /** sept_special_flags_lookup[encoding].index: the column in the lookup rows. */
  readonly index: number;
  /** sept_special_flags_lookup[encoding].any_blocked */
  readonly anyBlocked: boolean;
  /** sept_special_flags_lookup[encoding].tlb_tracking_required */
  readonly tlbTracking: boolean;
  /** sept_special_flags_lookup[encoding].guest_accessible_leaf */
  readonly guestAccessibleLeaf: boolean;
  /**
   * R|W|X non-zero: MAPPED is set RWX (tdh_mem_page_add.c line 189, tdg_mem_page_accept.c line 267);
   * AUG sets SEPT_PERMISSIONS_NONE (tdh_mem_page_aug.c line 176); BLOCK clears RWX on MAPPED
   * (tdh_mem_range_block.c block_sept_entry) and PENDING_BLOCKED keeps them 0 (sept_manager.h
   * sept_unblock); FREE is SEPTE_INIT_VALUE (sept_manager.h line 180), no permission bits.
   */
  readonly present: boolean;
}

// The lookup rows' columns (sept_special_flags_lookup, sept_state_lookup.c lines 62-432):
// 0 FREE, 1 REMOVED, 2 NL_MAPPED, 3 NL_BLOCKED, 4 MAPPED, 5 BLOCKED, 6 BLOCKEDW, 7 EXPORTED_BLOCKEDW,
// 8 EXPORTED_DIRTY, 9 EXPORTED_DIRTY_BLOCKEDW, 10 PENDING, 11 PENDING_BLOCKED, 12-15 PENDING_*.
const STATE: Readonly<Record<SeptState, StateFacts>> = {
  // [14] at lines 64-86
  FREE: {
    encoding: 0x0e,
    publicState: 0,
    index: 0,
    anyBlocked: false,
    tlbTracking: false,
    guestAccessibleLeaf: false,
    present: false,
  },
  // [0] at lines 110-132
  NL_MAPPED: {
    encoding: 0x00,
    publicState: 0x84,
    index: 2,
    anyBlocked: false,
    tlbTracking: true,
    guestAccessibleLeaf: false,
    present: true,
  },
  // [8] at lines 133-155
  NL_BLOCKED: {
    encoding: 0x08,
    publicState: 0x81,
    index: 3,
    anyBlocked: true,
    tlbTracking: true,
    guestAccessibleLeaf: false,
    present: false,
  },
  // [96] at lines 156-178
  MAPPED: {
    encoding: 0x60,
    publicState: 4,
    index: 4,
    anyBlocked: false,
    tlbTracking: true,
    guestAccessibleLeaf: true,
    present: true,
  },
  // [104] at lines 179-201
  BLOCKED: {
    encoding: 0x68,
    publicState: 1,
    index: 5,
    anyBlocked: true,
    tlbTracking: true,
    guestAccessibleLeaf: false,
    present: false,
  },
  // [112] at lines 294-316
  PENDING: {
    encoding: 0x70,
    publicState: 2,
    index: 10,
    anyBlocked: false,
    tlbTracking: true,
    guestAccessibleLeaf: false,
    present: false,
  },
  // [120] at lines 317-339
  PENDING_BLOCKED: {
    encoding: 0x78,
    publicState: 3,
    index: 11,
    anyBlocked: true,
    tlbTracking: true,
    guestAccessibleLeaf: false,
    present: false,
  },
};

/**
 * The leaf bit (PS, bit 7; x86_defs.h line 451, tested by sept_manager.h is_secure_ept_leaf_entry) is
 * encoding bit 6: SEPT_STATE_ENC_TO_MASK (sept_manager.h) moves encoding bits 6:5 to IPAT:PS.
 */
const isLeaf = (state: SeptState): boolean => (STATE[state].encoding & 0x40) !== 0;

type Bit = 0 | 1;
type Row = Readonly<Record<SeptState, Bit>>;

/** The rows above restricted to the modelled states (FULL_ROWS[LEAF][STATE.index]), written out. */
const LOOKUP: Readonly<Record<SeptCall, Row>> = {
  // seamcall_sept_state_lookup[2], line 32
  "TDH.MEM.PAGE.ADD": {
    FREE: 1,
    NL_MAPPED: 0,
    NL_BLOCKED: 0,
    MAPPED: 0,
    PENDING: 0,
    BLOCKED: 0,
    PENDING_BLOCKED: 0,
  },
  // seamcall_sept_state_lookup[3], line 33: NL_MAPPED is in the lookup (for allow_existing)
  "TDH.MEM.SEPT.ADD": {
    FREE: 1,
    NL_MAPPED: 1,
    NL_BLOCKED: 0,
    MAPPED: 0,
    PENDING: 0,
    BLOCKED: 0,
    PENDING_BLOCKED: 0,
  },
  // seamcall_sept_state_lookup[6], line 35 (its other 1 is REMOVED, not modelled)
  "TDH.MEM.PAGE.AUG": {
    FREE: 1,
    NL_MAPPED: 0,
    NL_BLOCKED: 0,
    MAPPED: 0,
    PENDING: 0,
    BLOCKED: 0,
    PENDING_BLOCKED: 0,
  },
  // seamcall_sept_state_lookup[7], line 36
  "TDH.MEM.RANGE.BLOCK": {
    FREE: 0,
    NL_MAPPED: 1,
    NL_BLOCKED: 0,
    MAPPED: 1,
    PENDING: 1,
    BLOCKED: 0,
    PENDING_BLOCKED: 0,
  },
  // seamcall_sept_state_lookup[39], line 45
  "TDH.MEM.RANGE.UNBLOCK": {
    FREE: 0,
    NL_MAPPED: 0,
    NL_BLOCKED: 1,
    MAPPED: 0,
    PENDING: 0,
    BLOCKED: 1,
    PENDING_BLOCKED: 1,
  },
  // seamcall_sept_state_lookup[29], line 43
  "TDH.MEM.PAGE.REMOVE": {
    FREE: 0,
    NL_MAPPED: 0,
    NL_BLOCKED: 0,
    MAPPED: 1,
    PENDING: 1,
    BLOCKED: 1,
    PENDING_BLOCKED: 1,
  },
  // seamcall_sept_state_lookup[15], line 39
  "TDH.MEM.PAGE.DEMOTE": {
    FREE: 0,
    NL_MAPPED: 0,
    NL_BLOCKED: 0,
    MAPPED: 1,
    PENDING: 1,
    BLOCKED: 1,
    PENDING_BLOCKED: 1,
  },
  // seamcall_sept_state_lookup[23], line 41
  "TDH.MEM.PAGE.PROMOTE": {
    FREE: 0,
    NL_MAPPED: 1,
    NL_BLOCKED: 1,
    MAPPED: 0,
    PENDING: 0,
    BLOCKED: 0,
    PENDING_BLOCKED: 0,
  },
  // seamcall_sept_state_lookup[16], line 40
  "TDH.MR.EXTEND": {
    FREE: 0,
    NL_MAPPED: 0,
    NL_BLOCKED: 0,
    MAPPED: 1,
    PENDING: 0,
    BLOCKED: 0,
    PENDING_BLOCKED: 0,
  },
  // tdcall_sept_state_lookup[6], line 56 (its other 1 is PENDING_EXPORTED_DIRTY, not modelled)
  "TDG.MEM.PAGE.ACCEPT": {
    FREE: 0,
    NL_MAPPED: 0,
    NL_BLOCKED: 0,
    MAPPED: 0,
    PENDING: 1,
    BLOCKED: 0,
    PENDING_BLOCKED: 0,
  },
};

/**
 * Op states a call is allowed in: include/auto_gen/op_state_lookup.c seamcall_state_lookup[leaf], the
 * first three of its eleven columns (op_state_lookup.h: OP_STATE_UNINITIALIZED = 0, INITIALIZED = 1,
 * RUNNABLE = 2), checked by helpers.c check_any_td_state_map_tdcs_and_lock (else TDX_OP_STATE_INCORRECT).
 */
const OP_ROWS: Readonly<Record<SeptCall, readonly [Bit, Bit, Bit]>> = {
  "TDH.MEM.PAGE.ADD": [0, 1, 0], // [2], line 34
  "TDH.MEM.SEPT.ADD": [0, 1, 1], // [3], line 35
  "TDH.MEM.PAGE.AUG": [0, 1, 1], // [6], line 38
  "TDH.MEM.RANGE.BLOCK": [0, 1, 1], // [7], line 39
  "TDH.MEM.PAGE.DEMOTE": [0, 1, 1], // [15], line 45
  "TDH.MR.EXTEND": [0, 1, 0], // [16], line 46
  "TDH.MEM.PAGE.PROMOTE": [0, 1, 1], // [23], line 51
  "TDH.MEM.PAGE.REMOVE": [0, 1, 1], // [29], line 54
  "TDH.MEM.RANGE.UNBLOCK": [0, 1, 1], // [39], line 57
  // A TDCALL: tdcall_state_lookup has no row 6 (lines 89-92), so ACCEPT runs whenever the guest runs,
  // i.e. after TDH.VP.ENTER, whose row seamcall_state_lookup[0] (line 32) allows RUNNABLE only.
  "TDG.MEM.PAGE.ACCEPT": [0, 0, 1],
};

/** op_state_lookup.c state_flags_lookup[op].tlb_tracking_required (lines 96-123). */
const OP_TLB_TRACKING: Readonly<Record<OpState, boolean>> = {
  UNINIT: false,
  INITIALIZED: false,
  RUNNABLE: true,
};

/** include/auto_gen/tdx_error_codes_defs.h (lines 124-137) and operand ids (lines 202, 236). */
const CODE = {
  TDX_EPT_ENTRY_NOT_PRESENT: 0xc0000b0300000000n, // line 127
  TDX_GPA_RANGE_NOT_BLOCKED: 0xc0000b0600000000n, // line 130
  TDX_GPA_RANGE_ALREADY_BLOCKED: 0x00000b0700000000n, // line 131
  TDX_TLB_TRACKING_NOT_DONE: 0xc0000b0800000000n, // line 132
  TDX_PAGE_ALREADY_ACCEPTED: 0x00000b0a00000000n, // line 134
  TDX_PAGE_SIZE_MISMATCH: 0xc0000b0b00000000n, // line 135
  TDX_EPT_ENTRY_STATE_INCORRECT: 0xc0000b0d00000000n, // line 137
} as const;
type RealStatus = keyof typeof CODE;
const OPERAND_ID_RCX = 1n;
const OPERAND_ID_SEPT_TREE = 146n;

// ---- The real module's decision, handler by handler ----

type Operand = "RCX" | "NONE" | "LEVEL";
type Real =
  | { readonly kind: "legal"; readonly to: SeptState | "DEMOTED" | "PROMOTED"; readonly tracking: boolean }
  | { readonly kind: "refused"; readonly status: RealStatus; readonly operand: Operand }
  | { readonly kind: "exit" };

const legal = (to: SeptState | "DEMOTED" | "PROMOTED", tracking = false): Real => ({
  kind: "legal",
  to,
  tracking,
});
const refuse = (status: RealStatus, operand: Operand = "RCX"): Real => ({ kind: "refused", status, operand });

/** block_sept_entry (tdh_mem_range_block.c lines 38-64) and sept_unblock (sept_manager.h lines 761-784). */
const BLOCKED_OF: Partial<Record<SeptState, SeptState>> = {
  NL_MAPPED: "NL_BLOCKED",
  MAPPED: "BLOCKED",
  PENDING: "PENDING_BLOCKED",
};
const UNBLOCKED_OF: Partial<Record<SeptState, SeptState>> = {
  NL_BLOCKED: "NL_MAPPED",
  BLOCKED: "MAPPED",
  PENDING_BLOCKED: "PENDING",
};

/**
 * The outcome of `call` on an entry in `state` at the level the call names, in op state `op`, with the
 * TD's blocks TLB-tracked. Paths are src/vmm_dispatcher/api_calls/ unless given.
 */
function realOutcome(call: SeptCall, state: SeptState, op: OpState): Real {
  const facts = STATE[state];
  const inLookup = LOOKUP[call][state] === 1;
  const tracking = facts.tlbTracking && OP_TLB_TRACKING[op];
  switch (call) {
    case "TDH.MEM.PAGE.ADD":
      // tdh_mem_page_add.c tdh_mem_page_add, lines 148-150
      return inLookup ? legal("MAPPED") : refuse("TDX_EPT_ENTRY_STATE_INCORRECT");
    case "TDH.MEM.SEPT.ADD":
      // tdh_mem_sept_add.c tdh_mem_sept_add, lines 415-419
      if (!inLookup) return refuse("TDX_EPT_ENTRY_STATE_INCORRECT");
      // process_l1_page, lines 84-120: a new page in R8 and the entry not FREE is refused with
      // TDX_EPT_ENTRY_STATE_INCORRECT unless RDX.allow_existing, which the model's host never sets.
      return state === "FREE" ? legal("NL_MAPPED") : refuse("TDX_EPT_ENTRY_STATE_INCORRECT");
    case "TDH.MEM.PAGE.AUG":
      // tdh_mem_page_aug.c tdh_mem_page_aug, lines 150-152; the entry becomes PENDING (line 176)
      return inLookup ? legal("PENDING") : refuse("TDX_EPT_ENTRY_STATE_INCORRECT");
    case "TDH.MEM.RANGE.BLOCK":
      // tdh_mem_range_block.c tdh_mem_range_block, lines 213-222: no TLB tracking check
      if (!inLookup) {
        return refuse(facts.anyBlocked ? "TDX_GPA_RANGE_ALREADY_BLOCKED" : "TDX_EPT_ENTRY_STATE_INCORRECT");
      }
      return legal(BLOCKED_OF[state]!);
    case "TDH.MEM.RANGE.UNBLOCK":
      // tdh_mem_range_unblock.c tdh_mem_range_unblock, lines 148-150, then TLB tracking (lines 158-186)
      if (!inLookup) return refuse("TDX_EPT_ENTRY_STATE_INCORRECT");
      return legal(UNBLOCKED_OF[state]!, tracking);
    case "TDH.MEM.PAGE.REMOVE":
    case "TDH.MEM.PAGE.DEMOTE":
    case "TDH.MEM.PAGE.PROMOTE": {
      // tdh_mem_page_remove.c lines 146-150 (also requires a leaf), tdh_mem_page_demote.c lines 200-205,
      // tdh_mem_page_promote.c lines 297-303
      if ((call === "TDH.MEM.PAGE.REMOVE" && !isLeaf(state)) || !inLookup) {
        return refuse("TDX_EPT_ENTRY_STATE_INCORRECT");
      }
      // remove.c lines 171-181, demote.c lines 215-227, promote.c lines 317-329: when the state and the
      // op state both need TLB tracking, the entry must be *BLOCKED first.
      if (tracking && !facts.anyBlocked) return refuse("TDX_GPA_RANGE_NOT_BLOCKED");
      const to =
        call === "TDH.MEM.PAGE.REMOVE" ? "FREE" : call === "TDH.MEM.PAGE.DEMOTE" ? "DEMOTED" : "PROMOTED";
      return legal(to, tracking);
    }
    case "TDH.MR.EXTEND":
      // tdh_mr_extend.c tdh_mr_extend, lines 113-131: the walk to a leaf (helpers.c
      // lock_sept_check_and_walk_internal, SEPT_WALK_TO_LEAF: leaf bit and RWX != 0) fails, and
      // TDX_EPT_WALK_FAILED is answered as TDX_EPT_ENTRY_NOT_PRESENT | RCX.
      if (!isLeaf(state) || !facts.present) return refuse("TDX_EPT_ENTRY_NOT_PRESENT");
      // lines 136-138: a present leaf the lookup refuses: TDX_EPT_ENTRY_NOT_PRESENT, no operand id.
      if (!inLookup) return refuse("TDX_EPT_ENTRY_NOT_PRESENT", "NONE");
      return legal("MAPPED");
    case "TDG.MEM.PAGE.ACCEPT":
      // src/td_dispatcher/vm_exits/tdg_mem_page_accept.c check_tdaccept_failure (lines 99-128), walk
      // ended at the requested level; statuses carry that level (tdg_mem_page_accept, lines 197-206).
      if (state !== "FREE" && !isLeaf(state)) return refuse("TDX_PAGE_SIZE_MISMATCH", "LEVEL");
      if (facts.guestAccessibleLeaf) return refuse("TDX_PAGE_ALREADY_ACCEPTED", "LEVEL");
      // lines 120-124 then 207-215: async_tdexit_ept_violation, no status.
      if (!inLookup) return { kind: "exit" };
      return legal("MAPPED");
  }
}

const realOps = (call: SeptCall): OpState[] => OPS.filter((_, i) => OP_ROWS[call][i] === 1);

// ---- Views that make a mismatch readable ----

function realView(real: Real): string {
  if (real.kind === "exit") return "exit EPT_VIOLATION";
  if (real.kind === "refused") return `refused ${real.status}`;
  return `legal -> ${real.to}${real.tracking ? " after TLB tracking" : ""}`;
}

function modelView(rule: SeptRule, op: OpState): string {
  if ("exit" in rule) return `exit ${rule.exit}`;
  if ("status" in rule) return `refused ${rule.status}`;
  // module.ts legalEntry checks `tracked` only while RUNNABLE.
  return `legal -> ${rule.to}${rule.tracked && op === "RUNNABLE" ? " after TLB tracking" : ""}`;
}

function describeReal(call: SeptCall, real: Real): string {
  if (real.kind === "exit") return "exit to the host with an EPT violation";
  if (real.kind === "refused") return `refuse ${call} with ${real.status}`;
  return `allow ${call}${real.tracking ? " once tracked" : ""}`;
}

// ---- Driving TdxModule ----

/** Levels each handler takes (verify_page_info_input / walk), cut to the levels the model has (0-2). */
const REAL_LEVELS: Readonly<Record<SeptCall, readonly Level[]>> = {
  "TDH.MEM.PAGE.ADD": [0], // tdh_mem_page_add.c line 114: LVL_PT only
  "TDH.MEM.SEPT.ADD": [1, 2], // tdh_mem_sept_add.c line 366: LVL_PD .. EPT page-walk level
  "TDH.MEM.PAGE.AUG": [0, 1], // tdh_mem_page_aug.c line 105: LVL_PT .. LVL_PD
  "TDH.MEM.RANGE.BLOCK": [0, 1, 2], // tdh_mem_range_block.c line 167: LVL_PT .. EPT page-walk level
  "TDH.MEM.RANGE.UNBLOCK": [0, 1, 2], // tdh_mem_range_unblock.c line 101: LVL_PT .. page-walk level
  "TDH.MEM.PAGE.REMOVE": [0, 1, 2], // tdh_mem_page_remove.c line 100: LVL_PT .. LVL_PDPT
  "TDH.MEM.PAGE.DEMOTE": [1, 2], // tdh_mem_page_demote.c line 152: LVL_PD .. LVL_PDPT
  "TDH.MEM.PAGE.PROMOTE": [1, 2], // tdh_mem_page_promote.c line 249: LVL_PD .. LVL_PDPT
  "TDH.MR.EXTEND": [0], // tdh_mr_extend.c: a 256-byte chunk of a 4K page
  "TDG.MEM.PAGE.ACCEPT": [0, 1], // tdg_mem_page_accept.c line 162: LVL_PT .. LVL_PD
};

/** The smallest level both modules take at which the harness can build `state`. */
const levelFor = (call: SeptCall, state: SeptState): Level | undefined =>
  REAL_LEVELS[call].find((l) => SEPT_TABLE[call].levels.includes(l) && reachable(l, state));

function invoke(td: Td, call: SeptCall, level: Level, op: OpState): string | undefined {
  const m = td.m;
  const gpa = gpaAt(level);
  const hpa = call === "TDH.MEM.PAGE.AUG" && level === 1 ? td.page2M() : td.page4K();
  switch (call) {
    case "TDH.MEM.PAGE.ADD":
      return m.pageAdd({ type: call, gpa, hpa, source: SOURCE }, op);
    case "TDH.MEM.SEPT.ADD":
      return m.septAdd({ type: call, gpa, level, hpa }, op);
    case "TDH.MEM.PAGE.AUG":
      return m.aug({ type: call, gpa, level, hpa }, op);
    case "TDH.MEM.RANGE.BLOCK":
      return m.block({ type: call, gpa, level }, op);
    case "TDH.MEM.RANGE.UNBLOCK":
      return m.unblock({ type: call, gpa, level }, op);
    case "TDH.MEM.PAGE.REMOVE":
      return m.remove({ type: call, gpa, level }, op).status;
    case "TDH.MEM.PAGE.DEMOTE":
      return m.demote({ type: call, gpa, level, hpa }, op);
    case "TDH.MEM.PAGE.PROMOTE":
      return m.promote({ type: call, gpa, level }, op).status;
    case "TDH.MR.EXTEND":
      return m.mrExtend({ type: call, gpa }, op);
    case "TDG.MEM.PAGE.ACCEPT":
      return m.accept({ type: call, gpa, level });
  }
}

/** The real wire status (RAX), or undefined for an EPT-violation TD exit. */
function realWire(real: Real, level: Level): string | undefined {
  if (real.kind === "exit") return undefined;
  if (real.kind === "legal") return SUCCESS;
  const operand = real.operand === "RCX" ? OPERAND_ID_RCX : real.operand === "LEVEL" ? BigInt(level) : 0n;
  return u64(CODE[real.status] | operand);
}

// ---- Tests ----

describe("intel/tdx-module S-EPT lookup, as transcribed", () => {
  it("should restrict each full lookup row to the modelled states through the state index", () => {
    for (const call of CALLS) {
      const row = FULL_ROWS[call === ACCEPT ? `tdcall ${LEAF[call]}` : LEAF[call]]!;
      expect(row).toHaveLength(16);
      for (const state of SEPT_STATES)
        expect([call, state, LOOKUP[call][state]]).toEqual([call, state, row[STATE[state].index]]);
    }
  });

  it("should cover exactly the modelled calls and states", () => {
    expect([...CALLS].sort()).toEqual(Object.keys(LEAF).sort());
    expect([...SEPT_STATES].sort()).toEqual(Object.keys(STATE).sort());
    const indices = SEPT_STATES.map((s) => STATE[s].index);
    expect(new Set(indices).size).toBe(SEPT_STATES.length);
  });

  it("should derive leaf-ness from the encoding: non-leaf for FREE and NL_*, leaf for the rest", () => {
    expect(SEPT_STATES.filter(isLeaf).sort()).toEqual(["BLOCKED", "MAPPED", "PENDING", "PENDING_BLOCKED"]);
  });
});

describe("S-EPT op-state gate against op_state_lookup.c", () => {
  for (const call of CALLS) {
    it(`should allow ${call} in exactly the op states the module does (${realOps(call).join(", ")})`, () => {
      expect([...SEPT_TABLE[call].opStates].sort()).toEqual(realOps(call).sort());
    });
  }

  for (const call of CALLS.filter((c) => c !== ACCEPT)) {
    it(`should take ${call} in exactly those TD lifecycle states (machine.ts)`, () => {
      const taken = OPS.filter((op) => TD_LIFECYCLE[op].calls.includes(call as CallName));
      expect(taken).toEqual(realOps(call));
    });
  }

  it("should let the guest run (so ACCEPT) only in RUNNABLE, as seamcall_state_lookup[0] does", () => {
    const taken = OPS.filter((op) => TD_LIFECYCLE[op].calls.includes("TDH.VP.ENTER"));
    expect(taken).toEqual(realOps(ACCEPT));
  });
});

describe("S-EPT legality table against intel/tdx-module, state by state", () => {
  for (const call of CALLS) {
    describe(call, () => {
      for (const op of realOps(call)) {
        for (const state of SEPT_STATES) {
          const real = realOutcome(call, state, op);
          it(`should ${describeReal(call, real)} on ${state} (${op})`, () => {
            expect(modelView(septRule(call, state, op), op)).toBe(realView(real));
          });
        }
      }
    });
  }
});

describe("S-EPT wire statuses through TdxModule against intel/tdx-module", () => {
  for (const call of CALLS) {
    describe(call, () => {
      for (const op of realOps(call)) {
        for (const state of SEPT_STATES) {
          const level = levelFor(call, state);
          // No non-leaf entry exists at 4K in either module, so 4K-only calls never meet NL_* states;
          // the table-level test above still covers those rows.
          if (level === undefined) continue;
          const real = realOutcome(call, state, op);
          const wire = realWire(real, level);
          it(`should answer ${call} on ${state} at level ${level} (${op}) with ${wire ?? "a TD exit"}`, () => {
            const td = drive(state, level, op);
            expect(invoke(td, call, level, op)).toBe(wire);
          });
        }
      }
    });
  }
});

describe("S-EPT TLB tracking refusals against intel/tdx-module", () => {
  // The legal rows that need tracking in RUNNABLE, issued before TDH.MEM.TRACK: remove.c line 189,
  // demote.c line 233 and promote.c line 335 answer TDX_TLB_TRACKING_NOT_DONE | RCX; unblock.c line 184
  // answers TDX_TLB_TRACKING_NOT_DONE | OPERAND_ID_SEPT_TREE (146).
  for (const call of CALLS) {
    for (const state of SEPT_STATES) {
      const real = realOutcome(call, state, "RUNNABLE");
      if (real.kind !== "legal" || !real.tracking) continue;
      const level = levelFor(call, state)!;
      const operand = call === "TDH.MEM.RANGE.UNBLOCK" ? OPERAND_ID_SEPT_TREE : OPERAND_ID_RCX;
      const wire = u64(CODE.TDX_TLB_TRACKING_NOT_DONE | operand);
      it(`should refuse ${call} on an untracked ${state} with ${wire}`, () => {
        const td = drive(state, level, "RUNNABLE", false);
        expect(invoke(td, call, level, "RUNNABLE")).toBe(wire);
      });
    }
  }
});
