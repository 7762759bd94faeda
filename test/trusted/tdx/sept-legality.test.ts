// Every row of the S-EPT legality table (actors/trusted/tdx/sept-table.ts), driven through TdxModule's own
// calls: the cases are generated from SEPT_TABLE, so a new call or state is covered automatically.
// Legal rows must return TDX_SUCCESS and leave the entry in the rule's state; refused rows must
// return the exact status (operand id RCX, or the level for ACCEPT) and change nothing.
import { describe, expect, it } from "vitest";
import {
  type OpState,
  SEPT_TABLE,
  type SeptCall,
  type SeptRule,
  septRule,
} from "../../../actors/trusted/tdx/sept-table.ts";
import {
  type Level,
  levelName,
  levelSize,
  SEPT_STATES,
  type SeptState,
  type U64,
} from "../../../protocol/index.ts";
import { TDX_OPERAND_ID, tdxStatus } from "../../../protocol/status.ts";
import { pfnOf } from "../../../src/hardware/frames.ts";
import {
  drive,
  G1,
  GPA_2M,
  GPA_4K,
  gpaAt,
  HKID,
  HUGE,
  ok,
  PAGE,
  reachable,
  SOURCE,
  SUCCESS,
  TDR,
  Td,
} from "./harness.ts";

const CALLS = Object.keys(SEPT_TABLE) as SeptCall[];
const ACCEPT = "TDG.MEM.PAGE.ACCEPT";
/** Calls with no level operand (always 4K). */
const LEVELLESS: readonly SeptCall[] = ["TDH.MEM.PAGE.ADD", "TDH.MR.EXTEND"];

const WALK_FAILED_RCX = "0xc0000b0000000001";
const OPERAND_INVALID_RCX = "0xc000010000000001";
const TLB_TRACKING_NOT_DONE_RCX = "0xc0000b0800000001";
/** UNBLOCK names the S-EPT tree (operand id 0x92) instead (tdh_mem_range_unblock.c). */
const TLB_TRACKING_NOT_DONE_SEPT = "0xc0000b0800000092";
const trackingNotDone = (call: string) =>
  call === "TDH.MEM.RANGE.UNBLOCK" ? TLB_TRACKING_NOT_DONE_SEPT : TLB_TRACKING_NOT_DONE_RCX;
const PAGE_METADATA_INCORRECT_R8 = "0xc000030000000008";

interface Outcome {
  status: U64 | undefined;
  hpa?: number | undefined;
}

/** Issue `call` at (gpa, level); `hpa` is the page the call takes, when it takes one. */
function invoke(td: Td, call: SeptCall, gpa: number, level: Level, op: OpState, hpa: number): Outcome {
  const m = td.m;
  switch (call) {
    case "TDH.MEM.PAGE.ADD":
      return { status: m.pageAdd({ type: call, gpa, hpa, source: SOURCE }, op) };
    case "TDH.MEM.SEPT.ADD":
      return { status: m.septAdd({ type: call, gpa, level, hpa }, op) };
    case "TDH.MEM.PAGE.AUG":
      return { status: m.aug({ type: call, gpa, level, hpa }, op) };
    case "TDH.MEM.RANGE.BLOCK":
      return { status: m.block({ type: call, gpa, level }, op) };
    case "TDH.MEM.RANGE.UNBLOCK":
      return { status: m.unblock({ type: call, gpa, level }, op) };
    case "TDH.MEM.PAGE.REMOVE": {
      const r = m.remove({ type: call, gpa, level }, op);
      return { status: r.status, hpa: r.hpa };
    }
    case "TDH.MEM.PAGE.DEMOTE":
      return { status: m.demote({ type: call, gpa, level, hpa }, op) };
    case "TDH.MEM.PAGE.PROMOTE": {
      const r = m.promote({ type: call, gpa, level }, op);
      return { status: r.status, hpa: r.hpa };
    }
    case "TDH.MR.EXTEND":
      return { status: m.mrExtend({ type: call, gpa }, op) };
    case "TDG.MEM.PAGE.ACCEPT":
      return { status: m.accept({ type: call, gpa, level }) };
  }
}

/** The page a call consumes: a 2M range for AUG 2M, else one 4K page. */
const pageFor = (td: Td, call: SeptCall, level: Level): number =>
  call === "TDH.MEM.PAGE.AUG" && level === 1 ? td.page2M() : td.page4K();

/** The exact status a refusal carries: RCX as operand id, except ACCEPT which reports the level. */
const refusal = (call: SeptCall, name: Extract<SeptRule, { status: unknown }>["status"], level: Level): U64 =>
  tdxStatus(name, call === ACCEPT ? BigInt(level) : TDX_OPERAND_ID.RCX);

const unblocked = (state: SeptState): SeptState =>
  state === "BLOCKED" ? "MAPPED" : state === "PENDING_BLOCKED" ? "PENDING" : state;

/** PAMT entries a legal call adds (+) or releases (-). */
const PAMT_DELTA: Readonly<Record<SeptCall, number>> = {
  "TDH.MEM.PAGE.ADD": 1,
  "TDH.MEM.SEPT.ADD": 1,
  "TDH.MEM.PAGE.AUG": 1,
  "TDH.MEM.RANGE.BLOCK": 0,
  "TDH.MEM.RANGE.UNBLOCK": 0,
  "TDH.MEM.PAGE.REMOVE": -1,
  // one new S-EPT page, and the 2M PAMT entry split into 512 4K entries
  "TDH.MEM.PAGE.DEMOTE": 512,
  // 512 4K entries merged into one, and the S-EPT page released
  "TDH.MEM.PAGE.PROMOTE": -512,
  "TDH.MR.EXTEND": 0,
  "TDG.MEM.PAGE.ACCEPT": 0,
};

interface Case {
  call: SeptCall;
  state: SeptState;
  level: Level;
  op: OpState;
}

function describeRule(rule: SeptRule, call: SeptCall, level: Level): string {
  if ("exit" in rule) return "exit to the host with an EPT violation (no status)";
  if ("status" in rule) return `refuse with ${rule.status}|${call === ACCEPT ? `level ${level}` : "RCX"}`;
  const to =
    rule.to === "DEMOTED" ? "NL_MAPPED over 512 4K leaves" : rule.to === "PROMOTED" ? "a 2M leaf" : rule.to;
  return `succeed and leave ${to}`;
}

const title = (c: Case): string =>
  `should ${describeRule(septRule(c.call, c.state, c.op), c.call, c.level)} on ${c.state} at ${levelName(c.level)} (${c.op})`;

/** The whole check for one (call, state, level, op): build, call, compare with the table. */
function runCase(c: Case, td: Td = drive(c.state, c.level, c.op)): void {
  const { call, state, level, op } = c;
  const gpa = gpaAt(level);
  const rule = septRule(call, state, op);
  const before = td.snapshot();
  const pamtBefore = td.m.pamt.size;
  const mrtdBefore = td.m.measurement;
  const epochBefore = td.m.epoch;
  const leafBefore = td.leaf(gpa, level);
  const leafHpa = leafBefore?.hpa;
  const firstChildBefore = level === 1 ? td.m.sept.child(gpa) : undefined;
  const firstChildHpa = firstChildBefore?.hpa;
  const hpa = pageFor(td, call, level);
  const out = invoke(td, call, gpa, level, op, hpa);

  if ("exit" in rule) {
    expect(out.status).toBeUndefined();
    expect(td.snapshot()).toBe(before);
    return;
  }
  if ("status" in rule) {
    expect(out.status).toBe(refusal(call, rule.status, level));
    expect(td.state(gpa, level)).toBe(state);
    expect(td.m.pamt.size).toBe(pamtBefore);
    expect(td.snapshot()).toBe(before);
    return;
  }

  expect(out.status).toBe(SUCCESS);
  expect(td.m.pamt.size).toBe(pamtBefore + PAMT_DELTA[call]);
  if (rule.to === "DEMOTED") {
    const childState = unblocked(state);
    const table = td.table2M(gpa);
    expect(td.state(gpa, 1)).toBe("NL_MAPPED");
    expect(table?.spt).toBe(hpa);
    expect(table?.childCount).toBe(512);
    for (let i = 0; i < 512; i++) {
      expect(td.state(gpa + i * PAGE, 0)).toBe(childState);
      expect(td.leaf(gpa + i * PAGE, 0)?.hpa).toBe(leafHpa! + i * PAGE);
    }
    expect(td.m.pamt.lookup(pfnOf(hpa))?.entry.type).toBe("PT_EPT");
    expect(td.m.pamt.lookup(pfnOf(leafHpa! + 7 * PAGE))?.entry.pages).toBe(1);
    return;
  }
  if (rule.to === "PROMOTED") {
    const childState = firstChildBefore?.state;
    expect(childState).toBeDefined();
    const leaf = td.leaf(gpa, 1);
    expect(leaf?.state).toBe(childState);
    expect(leaf?.level).toBe(1);
    expect(leaf?.hpa).toBe(firstChildHpa);
    expect(td.m.pamt.lookup(pfnOf(firstChildHpa!))?.entry.pages).toBe(512);
    expect(out.hpa).toBeDefined();
    expect(td.m.pamt.lookup(pfnOf(out.hpa!))).toBeUndefined();
    return;
  }
  expect(td.state(gpa, level)).toBe(rule.to);
  switch (call) {
    case "TDH.MEM.PAGE.ADD": {
      const frame = td.frames.get(pfnOf(hpa));
      expect(td.leaf(gpa, 0)?.hpa).toBe(hpa);
      expect(frame.content).toEqual({ k: "image", tag: "src" }); // copied from the host source page
      expect(frame.keyId).toBe(HKID);
      expect(td.m.measurement).not.toBe(mrtdBefore);
      break;
    }
    case "TDH.MEM.SEPT.ADD":
      expect(td.m.pamt.lookup(pfnOf(hpa))?.entry.type).toBe("PT_EPT");
      break;
    case "TDH.MEM.PAGE.AUG":
      expect(td.leaf(gpa, level)?.hpa).toBe(hpa);
      expect(td.m.pamt.lookup(pfnOf(hpa))?.entry).toMatchObject({
        type: "PT_REG",
        pages: levelSize(level) / PAGE,
        gpa,
      });
      break;
    case "TDH.MEM.RANGE.BLOCK":
      expect(td.entry(gpa, level)?.blockEpoch).toBe(epochBefore);
      break;
    case "TDH.MEM.PAGE.REMOVE":
      expect(out.hpa).toBe(leafHpa);
      expect(td.m.pamt.lookup(pfnOf(leafHpa!))).toBeUndefined();
      break;
    case "TDH.MR.EXTEND":
      expect(td.m.measurement).not.toBe(mrtdBefore);
      break;
    case "TDG.MEM.PAGE.ACCEPT":
      for (let p = pfnOf(leafHpa!); p < pfnOf(leafHpa!) + levelSize(level) / PAGE; p++) {
        expect(td.frames.get(p)).toEqual({ content: { k: "zero" }, keyId: HKID, poisoned: false });
      }
      break;
    default:
      break;
  }
}

/** The op state a call is tested in first: RUNNABLE if it runs then, else its only state. */
const primaryOp = (call: SeptCall): OpState => {
  const ops = SEPT_TABLE[call].opStates;
  return ops.includes("RUNNABLE") ? "RUNNABLE" : ops[0]!;
};
/** The smallest level the call takes at which the state can exist. */
const primaryLevel = (call: SeptCall, state: SeptState): Level | undefined =>
  SEPT_TABLE[call].levels.find((l) => reachable(l as Level, state)) as Level | undefined;

type Row = { call: SeptCall; state: SeptState; op: OpState; level: Level | undefined };
const ROWS: Row[] = CALLS.flatMap((call) =>
  SEPT_STATES.map((state) => ({ call, state, op: primaryOp(call), level: primaryLevel(call, state) })),
);

describe("S-EPT legality table: every call in every entry state", () => {
  it("should build one case per call and entry state", () => {
    expect(ROWS).toHaveLength(CALLS.length * SEPT_STATES.length);
    expect(new Set(ROWS.map((r) => `${r.call}/${r.state}`)).size).toBe(CALLS.length * SEPT_STATES.length);
    expect(CALLS.length).toBe(10);
    expect(SEPT_STATES.length).toBe(7);
  });

  for (const call of CALLS) {
    describe(call, () => {
      for (const row of ROWS.filter((r) => r.call === call)) {
        const { state, op, level } = row;
        if (level === undefined) {
          // e.g. PAGE.ADD x NL_MAPPED: the call only takes 4K and no 4K entry is ever a non-leaf.
          it(`should never meet ${state} at the only level it takes (4K), and refuse the row anyway`, () => {
            expect("to" in septRule(call, state, op)).toBe(false);
            const td = drive(state, 1, op);
            for (const gpa of [GPA_2M, GPA_4K, GPA_2M + HUGE - PAGE]) {
              expect(td.state(gpa, 0)).not.toMatch(/^NL_/);
            }
          });
          continue;
        }
        const c: Case = { call, state, level, op };
        it(title(c), () => runCase(c));
      }
    });
  }
});

describe("S-EPT legality table against the TDX module's own lookup", () => {
  // Which call is legal in which entry state, transcribed from intel/tdx-module (TDX 1.5)
  // include/auto_gen/sept_state_lookup.c, in the op state each call is tested in.
  const DOC_LEGAL: Readonly<Record<SeptCall, readonly SeptState[]>> = {
    "TDH.MEM.PAGE.ADD": ["FREE"],
    "TDH.MEM.SEPT.ADD": ["FREE"],
    "TDH.MEM.PAGE.AUG": ["FREE"],
    "TDH.MEM.RANGE.BLOCK": ["MAPPED", "PENDING", "NL_MAPPED"],
    "TDH.MEM.RANGE.UNBLOCK": ["BLOCKED", "PENDING_BLOCKED", "NL_BLOCKED"],
    "TDH.MEM.PAGE.REMOVE": ["BLOCKED", "PENDING_BLOCKED"],
    "TDH.MEM.PAGE.DEMOTE": ["BLOCKED", "PENDING_BLOCKED"],
    "TDH.MEM.PAGE.PROMOTE": ["NL_BLOCKED"],
    "TDH.MR.EXTEND": ["MAPPED"],
    "TDG.MEM.PAGE.ACCEPT": ["PENDING"],
  };
  // tdg_mem_page_accept.c: ACCEPT on FREE / BLOCKED / PENDING_BLOCKED (not accessible) exits to the host.
  const ACCEPT_EXITS: readonly SeptState[] = ["FREE", "BLOCKED", "PENDING_BLOCKED"];
  // Exact values (intel/tdx-module include/auto_gen/tdx_error_codes_defs.h) of what the table uses.
  const CODES: Readonly<Record<string, U64>> = {
    TDX_EPT_ENTRY_STATE_INCORRECT: "0xc0000b0d00000000",
    TDX_EPT_ENTRY_NOT_FREE: "0xc0000b0200000000",
    TDX_EPT_ENTRY_NOT_PRESENT: "0xc0000b0300000000",
    TDX_GPA_RANGE_NOT_BLOCKED: "0xc0000b0600000000",
    TDX_GPA_RANGE_ALREADY_BLOCKED: "0x00000b0700000000",
    TDX_PAGE_ALREADY_ACCEPTED: "0x00000b0a00000000",
    TDX_PAGE_SIZE_MISMATCH: "0xc0000b0b00000000",
  };

  for (const call of CALLS) {
    it(`should make ${call} legal exactly where the module's lookup does (${primaryOp(call)})`, () => {
      const legal = SEPT_STATES.filter((state) => "to" in septRule(call, state, primaryOp(call)));
      expect([...legal].sort()).toEqual([...DOC_LEGAL[call]].sort());
    });
  }

  it("should let REMOVE and DEMOTE take unblocked MAPPED/PENDING leaves only before RUNNABLE", () => {
    for (const call of ["TDH.MEM.PAGE.REMOVE", "TDH.MEM.PAGE.DEMOTE"] as const) {
      for (const state of ["MAPPED", "PENDING"] as const) {
        expect("to" in septRule(call, state, "INITIALIZED")).toBe(true);
        expect(septRule(call, state, "RUNNABLE")).toMatchObject({ status: "TDX_GPA_RANGE_NOT_BLOCKED" });
      }
    }
  });

  it("should exit from ACCEPT exactly on FREE, BLOCKED and PENDING_BLOCKED", () => {
    const exits = SEPT_STATES.filter((state) => "exit" in septRule(ACCEPT, state, "RUNNABLE"));
    expect([...exits].sort()).toEqual([...ACCEPT_EXITS].sort());
    for (const call of CALLS.filter((c) => c !== ACCEPT)) {
      for (const state of SEPT_STATES) expect("exit" in septRule(call, state, "RUNNABLE")).toBe(false);
    }
  });

  it("should answer BLOCK of any blocked entry with TDX_GPA_RANGE_ALREADY_BLOCKED, else ENTRY_STATE_INCORRECT", () => {
    for (const state of SEPT_STATES) {
      const rule = septRule("TDH.MEM.RANGE.BLOCK", state, "RUNNABLE");
      if ("to" in rule) continue;
      const expected = state.endsWith("BLOCKED")
        ? "TDX_GPA_RANGE_ALREADY_BLOCKED"
        : "TDX_EPT_ENTRY_STATE_INCORRECT";
      expect(rule).toMatchObject({ status: expected });
    }
  });

  it("should build each status the table uses with its exact 64-bit value and RCX = 1", () => {
    const used = new Set(
      CALLS.flatMap((call) =>
        SEPT_STATES.map((state) => septRule(call, state, primaryOp(call))).flatMap((r) =>
          "status" in r ? [r.status] : [],
        ),
      ),
    );
    for (const name of used) {
      expect(CODES[name], name).toBeDefined();
      expect(tdxStatus(name)).toBe(CODES[name]);
      expect(tdxStatus(name, TDX_OPERAND_ID.RCX)).toBe(`${CODES[name]!.slice(0, -1)}1`);
    }
    expect(tdxStatus("TDX_EPT_ENTRY_STATE_INCORRECT", 1n)).toBe("0xc0000b0d00000001");
  });
});

describe("S-EPT legality table: the other levels and op states each call takes", () => {
  const extra: Case[] = CALLS.flatMap((call) => {
    const spec = SEPT_TABLE[call];
    return spec.opStates.flatMap((op) =>
      spec.levels.flatMap((l) =>
        SEPT_STATES.filter((state) => reachable(l as Level, state))
          .filter((state) => !(op === primaryOp(call) && l === primaryLevel(call, state)))
          .map((state) => ({ call, state, level: l as Level, op })),
      ),
    );
  });

  it("should cover every reachable (level, op state) combination beyond the primary rows", () => {
    expect(extra.length).toBeGreaterThan(0);
    for (const c of extra) expect(SEPT_TABLE[c.call].levels).toContain(c.level);
  });

  for (const c of extra) it(`${c.call}: ${title(c)}`, () => runCase(c));
});

describe("S-EPT rules that replace the table before RUNNABLE", () => {
  const early = CALLS.flatMap((call) =>
    Object.keys(SEPT_TABLE[call].beforeRunnable ?? {}).map((state) => ({ call, state: state as SeptState })),
  );

  it("should have the REMOVE and DEMOTE rows Linux relies on", () => {
    expect(early.map((e) => `${e.call}/${e.state}`)).toEqual(
      expect.arrayContaining(["TDH.MEM.PAGE.REMOVE/MAPPED", "TDH.MEM.PAGE.REMOVE/PENDING"]),
    );
  });

  for (const { call, state } of early) {
    const level = primaryLevel(call, state)!;
    it(`should let ${call} take ${state} without BLOCK/TRACK while INITIALIZED`, () => {
      runCase({ call, state, level, op: "INITIALIZED" });
      expect("to" in septRule(call, state, "INITIALIZED")).toBe(true);
    });
    it(`should refuse ${call} on ${state} once RUNNABLE as the main table says`, () => {
      runCase({ call, state, level, op: "RUNNABLE" });
    });
  }

  it("should remove a PAGE.ADDed MAPPED page before finalize with TDX_SUCCESS and free the entry", () => {
    const td = drive("MAPPED", 0, "INITIALIZED");
    const hpa = td.leaf(GPA_4K, 0)!.hpa;
    const r = td.m.remove({ type: "TDH.MEM.PAGE.REMOVE", gpa: GPA_4K, level: 0 }, "INITIALIZED");
    expect(r).toEqual({ type: "TDH.MEM.PAGE.REMOVE", status: SUCCESS, hpa });
    expect(td.state(GPA_4K, 0)).toBe("FREE");
  });
});

describe("S-EPT TLB tracking (the `tracked` rules)", () => {
  const tracked = CALLS.flatMap((call) =>
    SEPT_STATES.filter((state) => {
      const rule = SEPT_TABLE[call].rules[state];
      return "to" in rule && rule.tracked === true;
    }).map((state) => ({ call, state, level: primaryLevel(call, state)! })),
  );

  it("should include REMOVE and UNBLOCK of a blocked leaf", () => {
    const names = tracked.map((t) => `${t.call}/${t.state}`);
    expect(names).toEqual(
      expect.arrayContaining(["TDH.MEM.PAGE.REMOVE/BLOCKED", "TDH.MEM.RANGE.UNBLOCK/BLOCKED"]),
    );
  });

  for (const { call, state, level } of tracked) {
    it(`should refuse ${call} on ${state} until TRACK and every vCPU of the block epoch has left`, () => {
      const op: OpState = "RUNNABLE";
      const gpa = gpaAt(level);
      const td = drive(state, level, op, false);
      const blockEpoch = td.entry(gpa, level)!.blockEpoch;
      expect(blockEpoch).toBe(td.m.epoch);
      const before = td.snapshot();

      // Before TDH.MEM.TRACK.
      expect(invoke(td, call, gpa, level, op, pageFor(td, call, level)).status).toBe(trackingNotDone(call));
      expect(td.snapshot()).toBe(before);

      // vCPU 3 entered the guest in the block epoch and has not exited: TRACK alone is not enough.
      td.m.inGuest.set(3, blockEpoch);
      ok(td.m.track());
      // vCPU 4 entered after TRACK: it holds no stale translation and does not hold tracking up.
      td.m.inGuest.set(4, td.m.epoch);
      const tracking = td.snapshot();
      expect(invoke(td, call, gpa, level, op, pageFor(td, call, level)).status).toBe(trackingNotDone(call));
      expect(td.snapshot()).toBe(tracking);
      expect(td.state(gpa, level)).toBe(state);

      // vCPU 3 leaves (exit + re-entry would do the same): now tracked.
      td.m.inGuest.delete(3);
      runCase({ call, state, level, op }, td);
    });
  }

  it("should not count a TRACK issued before the block", () => {
    const td = drive("MAPPED", 0, "RUNNABLE");
    ok(td.m.track());
    td.block(GPA_4K, 0, "RUNNABLE");
    const r = td.m.remove({ type: "TDH.MEM.PAGE.REMOVE", gpa: GPA_4K, level: 0 }, "RUNNABLE");
    expect(r.status).toBe(TLB_TRACKING_NOT_DONE_RCX);
    expect(td.state(GPA_4K, 0)).toBe("BLOCKED");
  });

  it("should refuse REMOVE of an unblocked MAPPED page while RUNNABLE with TDX_GPA_RANGE_NOT_BLOCKED|RCX", () => {
    const td = drive("MAPPED", 0, "RUNNABLE");
    const r = td.m.remove({ type: "TDH.MEM.PAGE.REMOVE", gpa: GPA_4K, level: 0 }, "RUNNABLE");
    expect(r.status).toBe("0xc0000b0600000001");
    expect(td.state(GPA_4K, 0)).toBe("MAPPED");
  });

  it("should return TDX_GPA_RANGE_ALREADY_BLOCKED|RCX (informational, bit 63 clear) for a second BLOCK", () => {
    const td = drive("BLOCKED", 0, "RUNNABLE");
    expect(td.m.block({ type: "TDH.MEM.RANGE.BLOCK", gpa: GPA_4K, level: 0 }, "RUNNABLE")).toBe(
      "0x00000b0700000001",
    );
  });
});

describe("S-EPT operand checks", () => {
  const leveled = CALLS.filter((call) => !LEVELLESS.includes(call));

  it("should only leave PAGE.ADD and MR.EXTEND without a level operand, at 4K", () => {
    for (const call of LEVELLESS) expect(SEPT_TABLE[call].levels).toEqual([0]);
  });

  for (const call of leveled) {
    for (const level of ([0, 1, 2] as const).filter((l) => !SEPT_TABLE[call].levels.includes(l))) {
      it(`should refuse ${call} at ${levelName(level)} with TDX_OPERAND_INVALID|RCX`, () => {
        const td = new Td();
        td.table(G1, 2);
        td.table(GPA_2M, 1);
        td.finalize();
        const before = td.snapshot();
        const out = invoke(td, call, gpaAt(level), level, primaryOp(call), td.page4K());
        expect(out.status).toBe(OPERAND_INVALID_RCX);
        expect(td.snapshot()).toBe(before);
      });
    }
  }

  it("should refuse a GPA not aligned to the level and a GPA with the shared bit set", () => {
    const td = new Td();
    td.table(G1, 2);
    td.table(GPA_2M, 1);
    td.finalize();
    const before = td.snapshot();
    expect(td.m.aug({ type: "TDH.MEM.PAGE.AUG", gpa: GPA_4K, level: 1, hpa: td.page2M() }, "RUNNABLE")).toBe(
      OPERAND_INVALID_RCX,
    );
    expect(td.m.block({ type: "TDH.MEM.RANGE.BLOCK", gpa: GPA_4K + 8, level: 0 }, "RUNNABLE")).toBe(
      OPERAND_INVALID_RCX,
    );
    expect(td.m.accept({ type: ACCEPT, gpa: GPA_4K + 2 ** 47, level: 0 })).toBe(OPERAND_INVALID_RCX);
    expect(td.snapshot()).toBe(before);
  });
});

describe("S-EPT walk failures", () => {
  it("should refuse AUG 4K with no 2M table with TDX_EPT_WALK_FAILED|RCX", () => {
    const td = new Td();
    td.table(G1, 2);
    td.finalize();
    const before = td.snapshot();
    expect(td.m.aug({ type: "TDH.MEM.PAGE.AUG", gpa: GPA_4K, level: 0, hpa: td.page4K() }, "RUNNABLE")).toBe(
      WALK_FAILED_RCX,
    );
    expect(td.state(GPA_4K, 0)).toBe("walk-failed");
    expect(td.snapshot()).toBe(before);
  });

  it("should refuse AUG 2M and SEPT.ADD 2M with no 1G table with TDX_EPT_WALK_FAILED|RCX", () => {
    const td = new Td();
    td.finalize();
    const before = td.snapshot();
    expect(td.m.aug({ type: "TDH.MEM.PAGE.AUG", gpa: GPA_2M, level: 1, hpa: td.page2M() }, "RUNNABLE")).toBe(
      WALK_FAILED_RCX,
    );
    expect(
      td.m.septAdd({ type: "TDH.MEM.SEPT.ADD", gpa: GPA_2M, level: 1, hpa: td.page4K() }, "RUNNABLE"),
    ).toBe(WALK_FAILED_RCX);
    expect(td.snapshot()).toBe(before);
  });

  for (const call of CALLS) {
    for (const level of SEPT_TABLE[call].levels as Level[]) {
      if (level === 2) continue; // the 1G entry is always reachable (levels above are present)
      const expected = call === ACCEPT ? "no status (EPT violation exit)" : "TDX_EPT_WALK_FAILED|RCX";
      it(`should answer ${call} at ${levelName(level)} over an empty S-EPT with ${expected}`, () => {
        const td = new Td();
        const before = td.snapshot();
        const out = invoke(td, call, gpaAt(level), level, primaryOp(call), pageFor(td, call, level));
        expect(out.status).toBe(call === ACCEPT ? undefined : WALK_FAILED_RCX);
        expect(td.snapshot()).toBe(before);
      });
    }
  }

  it("should answer BLOCK and UNBLOCK of a 4K GPA inside a 2M leaf with TDX_EPT_WALK_FAILED|RCX", () => {
    const td = drive("BLOCKED", 1, "RUNNABLE");
    const before = td.snapshot();
    expect(td.m.block({ type: "TDH.MEM.RANGE.BLOCK", gpa: GPA_4K, level: 0 }, "RUNNABLE")).toBe(
      WALK_FAILED_RCX,
    );
    expect(td.m.unblock({ type: "TDH.MEM.RANGE.UNBLOCK", gpa: GPA_4K, level: 0 }, "RUNNABLE")).toBe(
      WALK_FAILED_RCX,
    );
    expect(td.snapshot()).toBe(before);
  });
});

describe("PAMT: one owner per physical page", () => {
  function running(): Td {
    const td = new Td();
    td.table(G1, 2);
    td.table(GPA_2M, 1);
    td.finalize();
    return td;
  }

  it("should refuse AUG of a second GPA with the same HPA with TDX_PAGE_METADATA_INCORRECT|R8", () => {
    const td = running();
    const hpa = td.aug(GPA_4K, 0);
    const before = td.snapshot();
    const pamt = td.m.pamt.size;
    expect(td.m.aug({ type: "TDH.MEM.PAGE.AUG", gpa: GPA_4K + PAGE, level: 0, hpa }, "RUNNABLE")).toBe(
      PAGE_METADATA_INCORRECT_R8,
    );
    expect(td.state(GPA_4K + PAGE, 0)).toBe("FREE");
    expect(td.m.pamt.size).toBe(pamt);
    expect(td.snapshot()).toBe(before);
    expect(td.m.pamt.lookup(pfnOf(hpa))?.entry.gpa).toBe(GPA_4K);
  });

  it("should refuse AUG 2M over a range holding an owned 4K page, and AUG 4K inside an owned 2M page", () => {
    const td = running();
    const big = td.page2M();
    td.aug(GPA_4K, 0, big + 5 * PAGE);
    ok(
      td.m.septAdd({ type: "TDH.MEM.SEPT.ADD", gpa: GPA_2M + HUGE, level: 1, hpa: td.page4K() }, "RUNNABLE"),
    );
    const before = td.snapshot();
    expect(
      td.m.aug({ type: "TDH.MEM.PAGE.AUG", gpa: GPA_2M + 2 * HUGE, level: 1, hpa: big }, "RUNNABLE"),
    ).toBe(PAGE_METADATA_INCORRECT_R8);
    expect(td.snapshot()).toBe(before);

    const other = td.page2M();
    td.aug(GPA_2M + 2 * HUGE, 1, other);
    const after = td.snapshot();
    const inside = { type: "TDH.MEM.PAGE.AUG", gpa: GPA_2M + HUGE, level: 0, hpa: other + 9 * PAGE } as const;
    expect(td.m.aug(inside, "RUNNABLE")).toBe(PAGE_METADATA_INCORRECT_R8);
    expect(td.snapshot()).toBe(after);
  });

  it("should refuse PAGE.ADD, SEPT.ADD and DEMOTE onto a page the TD already owns (the TDR too)", () => {
    const td = new Td();
    const sept1G = td.table(G1, 2);
    const data = td.page4K();
    td.table(GPA_2M, 1);
    td.pageAdd(GPA_4K, data);
    const before = td.snapshot();
    const add = { type: "TDH.MEM.PAGE.ADD", gpa: GPA_4K + PAGE, hpa: data, source: td.page4K() } as const;
    expect(td.m.pageAdd(add, "INITIALIZED")).toBe(PAGE_METADATA_INCORRECT_R8);
    const sept = { type: "TDH.MEM.SEPT.ADD", gpa: GPA_2M + HUGE, level: 1, hpa: sept1G } as const;
    expect(td.m.septAdd(sept, "INITIALIZED")).toBe(PAGE_METADATA_INCORRECT_R8);
    expect(td.m.pageAdd({ ...add, hpa: TDR }, "INITIALIZED")).toBe(PAGE_METADATA_INCORRECT_R8);
    expect(td.snapshot()).toBe(before);

    const huge = drive("BLOCKED", 1, "RUNNABLE");
    const hugeBefore = huge.snapshot();
    const leafHpa = huge.leaf(GPA_2M, 1)!.hpa;
    const demote = { type: "TDH.MEM.PAGE.DEMOTE", gpa: GPA_2M, level: 1, hpa: leafHpa + PAGE } as const;
    expect(huge.m.demote(demote, "RUNNABLE")).toBe(PAGE_METADATA_INCORRECT_R8);
    expect(huge.snapshot()).toBe(hugeBefore);
  });

  it("should refuse AUG 2M of a range that is not 2M-aligned with TDX_OPERAND_INVALID|R8", () => {
    const td = running();
    const before = td.snapshot();
    const req = { type: "TDH.MEM.PAGE.AUG", gpa: GPA_2M + HUGE, level: 1, hpa: td.page2M() + PAGE } as const;
    expect(td.m.aug(req, "RUNNABLE")).toBe("0xc000010000000008");
    expect(td.snapshot()).toBe(before);
  });
});

describe("TDG.MEM.PAGE.ACCEPT outcomes", () => {
  const junk = {
    content: { k: "data", writer: "host", tag: "junk", secret: false },
    keyId: 0,
    poisoned: false,
  } as const;
  const zero = { content: { k: "zero" }, keyId: HKID, poisoned: false };

  it("should zero a PENDING 4K page with the TD key and map it", () => {
    const td = drive("PENDING", 0, "RUNNABLE");
    const hpa = td.leaf(GPA_4K, 0)!.hpa;
    td.frames.set(pfnOf(hpa), junk);
    expect(td.m.accept({ type: ACCEPT, gpa: GPA_4K, level: 0 })).toBe(SUCCESS);
    expect(td.frames.get(pfnOf(hpa))).toEqual(zero);
    expect(td.state(GPA_4K, 0)).toBe("MAPPED");
    expect(td.io.drain().effects).toContainEqual(
      expect.objectContaining({
        e: "zero",
        hpa,
        gpa: GPA_4K,
        pages: 1,
        keyId: HKID,
        by: "fw",
        why: "TDG.MEM.PAGE.ACCEPT",
      }),
    );
  });

  it("should zero all 512 frames of a PENDING 2M page accepted at 2M and map it at 2M", () => {
    const td = drive("PENDING", 1, "RUNNABLE");
    const hpa = td.leaf(GPA_2M, 1)!.hpa;
    for (const i of [0, 255, 511]) td.frames.set(pfnOf(hpa) + i, junk);
    expect(td.m.accept({ type: ACCEPT, gpa: GPA_2M, level: 1 })).toBe(SUCCESS);
    for (let i = 0; i < 512; i++) expect(td.frames.get(pfnOf(hpa) + i)).toEqual(zero);
    expect(td.leaf(GPA_2M, 1)).toMatchObject({ state: "MAPPED", level: 1, hpa });
  });

  it("should answer a 4K accept inside a MAPPED 2M page with TDX_PAGE_ALREADY_ACCEPTED|1", () => {
    const td = drive("MAPPED", 1, "RUNNABLE");
    const before = td.snapshot();
    expect(td.m.accept({ type: ACCEPT, gpa: GPA_4K, level: 0 })).toBe("0x00000b0a00000001");
    expect(td.snapshot()).toBe(before);
  });

  it("should answer a 4K accept of a MAPPED 4K page with TDX_PAGE_ALREADY_ACCEPTED|0", () => {
    const td = drive("MAPPED", 0, "RUNNABLE");
    expect(td.m.accept({ type: ACCEPT, gpa: GPA_4K, level: 0 })).toBe("0x00000b0a00000000");
  });

  it("should answer a 2M accept over 4K mappings (NL_MAPPED) with TDX_PAGE_SIZE_MISMATCH|1", () => {
    const td = drive("NL_MAPPED", 1, "RUNNABLE");
    const before = td.snapshot();
    expect(td.m.accept({ type: ACCEPT, gpa: GPA_2M, level: 1 })).toBe("0xc0000b0b00000001");
    expect(td.snapshot()).toBe(before);
  });

  it("should exit without a status for a 4K accept inside a PENDING 2M page, zeroing nothing", () => {
    const td = drive("PENDING", 1, "RUNNABLE");
    const hpa = td.leaf(GPA_2M, 1)!.hpa;
    td.frames.set(pfnOf(hpa) + 3, junk);
    const before = td.snapshot();
    expect(td.m.accept({ type: ACCEPT, gpa: GPA_4K, level: 0 })).toBeUndefined();
    expect(td.snapshot()).toBe(before);
    expect(td.frames.get(pfnOf(hpa) + 3)).toEqual(junk);
  });

  for (const state of ["BLOCKED", "PENDING_BLOCKED"] as const) {
    it(`should exit without a status for a 4K accept inside a ${state} 2M page`, () => {
      const td = drive(state, 1, "RUNNABLE");
      const before = td.snapshot();
      expect(td.m.accept({ type: ACCEPT, gpa: GPA_4K, level: 0 })).toBeUndefined();
      expect(td.snapshot()).toBe(before);
    });
  }

  it("should exit without a status when no table maps the GPA, and refuse 1G with TDX_OPERAND_INVALID|RCX", () => {
    const td = new Td();
    expect(td.m.accept({ type: ACCEPT, gpa: GPA_4K, level: 0 })).toBeUndefined();
    expect(td.m.accept({ type: ACCEPT, gpa: G1, level: 2 })).toBe(OPERAND_INVALID_RCX);
  });
});

// Behaviours checked against the TDX module source (intel/tdx-module, commit 1666adc4) after the
// model first got them wrong.
describe("behaviours aligned with the TDX module source", () => {
  // secure_ept_walk stops at a non-present entry (RWX = 0, which BLOCK sets on NL_BLOCKED) and
  // lock_sept_check_and_walk_private_gpa (SEPT_WALK_TO_LEVEL) then fails with
  // TDX_EPT_WALK_FAILED|RCX.
  it("should refuse AUG 4K under an NL_BLOCKED 2M table with TDX_EPT_WALK_FAILED|RCX", () => {
    const td = new Td();
    td.table(G1, 2);
    td.table(GPA_2M, 1);
    td.finalize();
    td.block(GPA_2M, 1, "RUNNABLE");
    const before = td.snapshot();
    const req = { type: "TDH.MEM.PAGE.AUG", gpa: GPA_4K, level: 0, hpa: td.page4K() } as const;
    expect(td.m.aug(req, "RUNNABLE")).toBe(WALK_FAILED_RCX);
    expect(td.snapshot()).toBe(before);
  });

  it("should exit (no status, no zeroing) when the guest accepts 4K under an NL_BLOCKED 2M table", () => {
    const td = new Td();
    td.table(G1, 2);
    td.table(GPA_2M, 1);
    td.finalize();
    td.aug(GPA_4K, 0);
    td.block(GPA_2M, 1, "RUNNABLE");
    expect(td.m.accept({ type: ACCEPT, gpa: GPA_4K, level: 0 })).toBeUndefined();
    // The walk stops at the blocked table; the child itself is untouched underneath.
    expect(td.state(GPA_4K, 0)).toBe("walk-failed");
    expect(td.m.sept.child(GPA_4K)?.state).toBe("PENDING");
  });

  // A 4K request whose walk stops at a 2M leaf has not reached the requested level: the module
  // answers TDX_EPT_WALK_FAILED|RCX.
  for (const [call, op] of [
    ["TDH.MEM.PAGE.AUG", "RUNNABLE"],
    ["TDH.MEM.PAGE.REMOVE", "RUNNABLE"],
    ["TDH.MEM.PAGE.ADD", "INITIALIZED"],
    ["TDH.MR.EXTEND", "INITIALIZED"],
  ] as const) {
    it(`should refuse ${call} of a 4K GPA inside a 2M leaf with TDX_EPT_WALK_FAILED|RCX`, () => {
      const td = drive(call === "TDH.MEM.PAGE.REMOVE" ? "BLOCKED" : "MAPPED", 1, op);
      const before = td.snapshot();
      expect(invoke(td, call, GPA_4K, 0, op, td.page4K()).status).toBe(WALK_FAILED_RCX);
      expect(td.snapshot()).toBe(before);
    });
  }

  // tdh_mem_page_promote checks "blocked and tracked" only when the op state requires TLB tracking
  // (the same predicate REMOVE and DEMOTE use, modelled by their beforeRunnable rows); the table
  // has no beforeRunnable row for PROMOTE, so NL_MAPPED is refused before RUNNABLE.
  it("should promote an NL_MAPPED uniform table before RUNNABLE without BLOCK", () => {
    const td = drive("NL_MAPPED", 1, "INITIALIZED");
    const r = td.m.promote({ type: "TDH.MEM.PAGE.PROMOTE", gpa: GPA_2M, level: 1 }, "INITIALIZED");
    expect(r.status).toBe(SUCCESS);
    expect(td.leaf(GPA_2M, 1)?.state).toBe("MAPPED");
  });
});
