// TD teardown through TdxModule: zap while the HKID is assigned, TDH.VP.FLUSH each vCPU,
// TDH.MNG.VPFLUSHDONE, TDH.PHYMEM.CACHE.WB, TDH.MNG.KEY.FREEID, then TDH.PHYMEM.PAGE.RECLAIM of
// every page with the TDR last (tdx_mmu_release_hkid(), tdx_reclaim_td_control_pages() in
// arch/x86/kvm/vmx/tdx.c, v6.16; intel/tdx-module's teardown calls). Each step out of order is refused
// and changes nothing.
import { describe, expect, it } from "vitest";
import type { KeyState } from "../../../actors/trusted/tdx/module.ts";
import * as T from "../../../actors/trusted/tdx/teardown.ts";
import type { U64 } from "../../../protocol/index.ts";
import { isTdxError, tdxStatusIs } from "../../../protocol/status.ts";
import { pfnOf } from "../../../src/hardware/frames.ts";
import { G1, GPA_2M, GPA_4K, ok, PAGE, SUCCESS, TDR, Td } from "./harness.ts";

const OPERAND_INVALID_RCX = "0xc000010000000001";
const VCPU_STATE_INCORRECT = "0xc000070000000000";
const FLUSHVP_NOT_DONE = "0x8000082400000000";
const PAGE_METADATA_INCORRECT_RCX = "0xc000030000000001";
// Values the TDX module source gives (intel/tdx-module, commit 1666adc4) where the model differs.
const LIFECYCLE_STATE_INCORRECT = "0xc000060700000000"; // returned without an operand id
const WBCACHE_NOT_COMPLETE = "0x8000081700000000";
const NO_HKID_READY_TO_WBCACHE = "0x0000082100000000"; // bit 63 clear: not an error
const TD_ASSOCIATED_PAGES_EXIST = "0xc000040000000000";

const TDVPR = [0x0300_0000, 0x0300_1000] as const;
const GPA_ADDED = GPA_4K;
const GPA_AUGED = GPA_4K + PAGE;
const GPA_HUGE = GPA_2M + 0x20_0000;

interface Running {
  td: Td;
  /** S-EPT pages: the 1G-level table and two 2M-level tables. */
  sept: number[];
  /** Data pages: a PAGE.ADDed 4K page, an AUGed + ACCEPTed 4K page, an AUGed 2M page. */
  data: { added: number; auged: number; huge: number };
}

/** A RUNNABLE TD with two vCPUs, S-EPT tables, and 4K and 2M private pages. */
function running(): Running {
  const td = new Td();
  for (const [vcpu, tdvpr] of TDVPR.entries()) ok(td.m.vpCreate({ type: "TDH.VP.CREATE", vcpu, tdvpr }));
  const sept = [td.table(G1, 2), td.table(GPA_2M, 1)];
  const added = td.pageAdd(GPA_ADDED);
  td.finalize();
  const auged = td.aug(GPA_AUGED, 0);
  td.accept(GPA_AUGED, 0);
  const huge = td.aug(GPA_HUGE, 1);
  td.io.drain();
  return { td, sept, data: { added, auged, huge } };
}

const flushAll = (td: Td): void => {
  for (const vcpu of TDVPR.keys()) ok(T.vpFlush(td.m, { type: "TDH.VP.FLUSH", vcpu }));
};

/** Advance teardown up to (and including) `stage`. */
function teardownTo(r: Running, stage: KeyState): void {
  const order: KeyState[] = ["BLOCKED", "WB_DONE", "TEARDOWN"];
  const { td } = r;
  for (const step of order.slice(0, order.indexOf(stage) + 1)) {
    if (step === "BLOCKED") {
      flushAll(td);
      ok(T.vpFlushDone(td.m));
    }
    if (step === "WB_DONE") ok(T.cacheWb(td.m));
    if (step === "TEARDOWN") ok(T.keyFreeId(td.m));
    expect(td.m.keyState).toBe(step);
  }
}

const reclaim = (td: Td, hpa: number) => T.reclaim(td.m, { type: "TDH.PHYMEM.PAGE.RECLAIM", hpa });

/** Refused as the model does it: an error of this class, and nothing changed. */
function expectRefused(td: Td, call: () => U64, name: Parameters<typeof tdxStatusIs>[1]): void {
  const before = td.snapshot();
  const status = call();
  expect(isTdxError(status), status).toBe(true);
  expect(tdxStatusIs(status, name), status).toBe(true);
  expect(td.snapshot()).toBe(before);
}

describe("TDH.VP.FLUSH", () => {
  it("should refuse a vCPU that does not exist with TDX_OPERAND_INVALID|RCX", () => {
    const { td } = running();
    expect(T.vpFlush(td.m, { type: "TDH.VP.FLUSH", vcpu: 9 })).toBe(OPERAND_INVALID_RCX);
  });

  it("should refuse a vCPU still in guest mode with TDX_VCPU_STATE_INCORRECT, then flush it once it left", () => {
    const { td } = running();
    td.m.inGuest.set(1, td.m.epoch);
    expect(T.vpFlush(td.m, { type: "TDH.VP.FLUSH", vcpu: 1 })).toBe(VCPU_STATE_INCORRECT);
    expect(td.m.vcpus.get(1)?.flushed).toBe(false);
    td.m.inGuest.delete(1);
    ok(T.vpFlush(td.m, { type: "TDH.VP.FLUSH", vcpu: 1 }));
    expect(td.m.vcpus.get(1)?.flushed).toBe(true);
  });
});

describe("TDH.MNG.VPFLUSHDONE", () => {
  it("should refuse with TDX_FLUSHVP_NOT_DONE until every vCPU is flushed", () => {
    const { td } = running();
    expect(T.vpFlushDone(td.m)).toBe(FLUSHVP_NOT_DONE);
    expect(td.m.keyState).toBe("KEYS_CONFIGURED");
    ok(T.vpFlush(td.m, { type: "TDH.VP.FLUSH", vcpu: 0 }));
    expect(T.vpFlushDone(td.m)).toBe(FLUSHVP_NOT_DONE);
    expect(td.m.keyState).toBe("KEYS_CONFIGURED");
    ok(T.vpFlush(td.m, { type: "TDH.VP.FLUSH", vcpu: 1 }));
    expect(T.vpFlushDone(td.m)).toBe(SUCCESS);
    expect(td.m.keyState).toBe("BLOCKED");
  });
});

describe("TDH.PHYMEM.CACHE.WB and TDH.MNG.KEY.FREEID", () => {
  it("should answer CACHE.WB before VPFLUSHDONE with TDX_NO_HKID_READY_TO_WBCACHE and change nothing", () => {
    const { td } = running();
    const before = td.snapshot();
    expect(T.cacheWb(td.m)).toBe("0x0000082100000000");
    expect(td.snapshot()).toBe(before);
    expect(td.m.keyState).toBe("KEYS_CONFIGURED");
  });

  it("should refuse KEY.FREEID before VPFLUSHDONE and before CACHE.WB", () => {
    const r = running();
    expectRefused(r.td, () => T.keyFreeId(r.td.m), "TDX_LIFECYCLE_STATE_INCORRECT");
    teardownTo(r, "BLOCKED");
    const before = r.td.snapshot();
    expect(isTdxError(T.keyFreeId(r.td.m))).toBe(true);
    expect(r.td.snapshot()).toBe(before);
    expect(r.td.m.keyState).toBe("BLOCKED");
  });

  it("should free the HKID after CACHE.WB (repeatable) and announce TD_TEARDOWN", () => {
    const r = running();
    teardownTo(r, "WB_DONE");
    ok(T.cacheWb(r.td.m));
    expect(r.td.m.keyState).toBe("WB_DONE");
    r.td.io.drain();
    expect(T.keyFreeId(r.td.m)).toBe(SUCCESS);
    expect(r.td.m.keyState).toBe("TEARDOWN");
    expect(r.td.io.drain().effects).toContainEqual(
      expect.objectContaining({ e: "lifecycle", by: "fw", state: "TD_TEARDOWN" }),
    );
    expectRefused(r.td, () => T.keyFreeId(r.td.m), "TDX_LIFECYCLE_STATE_INCORRECT");
  });
});

describe("TDH.PHYMEM.PAGE.RECLAIM", () => {
  for (const stage of ["KEYS_CONFIGURED", "BLOCKED", "WB_DONE"] as const) {
    it(`should refuse every page while the key is ${stage} (before KEY.FREEID)`, () => {
      const r = running();
      if (stage !== "KEYS_CONFIGURED") teardownTo(r, stage);
      const { td, sept, data } = r;
      for (const hpa of [...sept, data.added, data.auged, data.huge, ...TDVPR, TDR]) {
        expectRefused(td, () => reclaim(td, hpa).status, "TDX_LIFECYCLE_STATE_INCORRECT");
      }
      expect(td.m.pamt.lookup(pfnOf(TDR))?.entry.type).toBe("PT_TDR");
    });
  }

  it("should refuse the TDR while other pages remain, reclaim them all, and take the TDR last", () => {
    const r = running();
    teardownTo(r, "TEARDOWN");
    const { td, sept, data } = r;
    const owned = td.m.pamt.size;
    expect(owned).toBe(1 + TDVPR.length + sept.length + 3);

    expectRefused(td, () => reclaim(td, TDR).status, "TDX_TD_ASSOCIATED_PAGES_EXIST");

    const expected: [number, string][] = [
      [data.added, "PT_REG"],
      [data.auged, "PT_REG"],
      [data.huge, "PT_REG"],
      ...sept.map((hpa): [number, string] => [hpa, "PT_EPT"]),
      ...TDVPR.map((hpa): [number, string] => [hpa, "PT_TDVPR"]),
    ];
    for (const [i, [hpa, pageType]] of expected.entries()) {
      expect(reclaim(td, hpa)).toEqual({ type: "TDH.PHYMEM.PAGE.RECLAIM", status: SUCCESS, pageType });
      expect(td.m.pamt.size).toBe(owned - i - 1);
      if (i < expected.length - 1) {
        expectRefused(td, () => reclaim(td, TDR).status, "TDX_TD_ASSOCIATED_PAGES_EXIST");
      }
    }
    expect(reclaim(td, TDR)).toEqual({
      type: "TDH.PHYMEM.PAGE.RECLAIM",
      status: SUCCESS,
      pageType: "PT_TDR",
    });
    expect(td.m.pamt.size).toBe(0);
    expect(reclaim(td, TDR).status).toBe(PAGE_METADATA_INCORRECT_RCX);
  });

  it("should leave the S-EPT alone: RECLAIM gives back the PAMT entry only (tdh_phymem_page_reclaim.c)", () => {
    const r = running();
    teardownTo(r, "TEARDOWN");
    expect(r.td.m.leafFor(GPA_AUGED)?.hpa).toBe(r.data.auged);
    ok(reclaim(r.td, r.data.auged).status);
    expect(r.td.m.pamt.lookup(pfnOf(r.data.auged))).toBeUndefined();
    expect(r.td.m.leafFor(GPA_AUGED)?.hpa).toBe(r.data.auged);
  });

  it("should check the PAMT entry before the TD's lifecycle, as the module does", () => {
    const r = running();
    // A page no TD owns: TDX_PAGE_METADATA_INCORRECT even while the TD runs (0.6.0 said LIFECYCLE).
    expect(reclaim(r.td, 0x0700_0000).status).toBe(PAGE_METADATA_INCORRECT_RCX);
    expectRefused(r.td, () => reclaim(r.td, r.data.auged).status, "TDX_LIFECYCLE_STATE_INCORRECT");
  });

  it("should refuse a page the TD does not own, or one reclaimed already, with TDX_PAGE_METADATA_INCORRECT|RCX", () => {
    const r = running();
    teardownTo(r, "TEARDOWN");
    const before = r.td.snapshot();
    expect(reclaim(r.td, 0x0700_0000).status).toBe(PAGE_METADATA_INCORRECT_RCX);
    expect(r.td.snapshot()).toBe(before);
    ok(reclaim(r.td, r.sept[1]!).status);
    expect(reclaim(r.td, r.sept[1]!).status).toBe(PAGE_METADATA_INCORRECT_RCX);
  });
});

describe("a full teardown in the order Linux uses", () => {
  it("should zap (BLOCK, TRACK, REMOVE, WBINVD) with the HKID assigned, then flush, free the key and reclaim", () => {
    const r = running();
    const { td, data } = r;
    const op = "RUNNABLE" as const;

    // Zap the private pages while the HKID is still assigned.
    const zapped: number[] = [];
    for (const [gpa, level] of [
      [GPA_ADDED, 0],
      [GPA_AUGED, 0],
      [GPA_HUGE, 1],
    ] as const) {
      ok(td.m.block({ type: "TDH.MEM.RANGE.BLOCK", gpa, level }, op));
      // WBINVD of a page the TD still owns is refused.
      const hpa = td.m.leafFor(gpa)!.hpa;
      expect(T.wbinvd(td.m, { type: "TDH.PHYMEM.PAGE.WBINVD", hpa })).toBe(PAGE_METADATA_INCORRECT_RCX);
      ok(td.m.track());
      const removed = td.m.remove({ type: "TDH.MEM.PAGE.REMOVE", gpa, level }, op);
      expect(removed).toEqual({ type: "TDH.MEM.PAGE.REMOVE", status: SUCCESS, hpa });
      ok(T.wbinvd(td.m, { type: "TDH.PHYMEM.PAGE.WBINVD", hpa }));
      zapped.push(hpa);
    }
    expect(zapped).toEqual([data.added, data.auged, data.huge]);
    expect([...td.m.sept.leaves()]).toEqual([]);

    td.m.inGuest.set(0, td.m.epoch);
    expect(T.vpFlush(td.m, { type: "TDH.VP.FLUSH", vcpu: 0 })).toBe(VCPU_STATE_INCORRECT);
    td.m.inGuest.clear();
    flushAll(td);
    expect(T.vpFlushDone(td.m)).toBe(SUCCESS);
    expect(T.cacheWb(td.m)).toBe(SUCCESS);
    expect(T.keyFreeId(td.m)).toBe(SUCCESS);

    for (const hpa of [...r.sept, ...TDVPR]) ok(reclaim(td, hpa).status);
    // Zapped pages went back to the host at REMOVE: the module no longer knows them.
    for (const hpa of zapped) expect(reclaim(td, hpa).status).toBe(PAGE_METADATA_INCORRECT_RCX);
    expect(reclaim(td, TDR).status).toBe(SUCCESS);
    expect(td.m.pamt.size).toBe(0);
  });
});

// Statuses checked against the TDX module source (intel/tdx-module 1666adc4: tdh_mng_key_freeid.c,
// tdh_phymem_page_reclaim.c, tdh_phymem_cache_wb.c, tdh_mng_vpflushdone.c).
describe("teardown statuses aligned with the TDX module source", () => {
  it("should refuse KEY.FREEID before VPFLUSHDONE with plain TDX_LIFECYCLE_STATE_INCORRECT", () => {
    const { td } = running();
    expect(T.keyFreeId(td.m)).toBe(LIFECYCLE_STATE_INCORRECT);
  });

  it("should refuse KEY.FREEID before CACHE.WB completed with TDX_WBCACHE_NOT_COMPLETE", () => {
    const r = running();
    teardownTo(r, "BLOCKED");
    expect(T.keyFreeId(r.td.m)).toBe(WBCACHE_NOT_COMPLETE);
  });

  it("should refuse RECLAIM before KEY.FREEID with plain TDX_LIFECYCLE_STATE_INCORRECT", () => {
    const r = running();
    expect(reclaim(r.td, r.sept[0]!).status).toBe(LIFECYCLE_STATE_INCORRECT);
  });

  it("should refuse the TDR while child pages remain with TDX_TD_ASSOCIATED_PAGES_EXIST", () => {
    const r = running();
    teardownTo(r, "TEARDOWN");
    expect(reclaim(r.td, TDR).status).toBe(TD_ASSOCIATED_PAGES_EXIST);
  });

  it("should answer CACHE.WB with no flushed HKID with TDX_NO_HKID_READY_TO_WBCACHE (not an error)", () => {
    const { td } = running();
    expect(T.cacheWb(td.m)).toBe(NO_HKID_READY_TO_WBCACHE);
  });

  it("should refuse VPFLUSHDONE once the key is freed, keeping TD_TEARDOWN", () => {
    const r = running();
    teardownTo(r, "TEARDOWN");
    expect(T.vpFlushDone(r.td.m)).toBe(LIFECYCLE_STATE_INCORRECT);
    expect(r.td.m.keyState).toBe("TEARDOWN");
  });

  it("should refuse RECLAIM of a 4K address inside a 2M page with TDX_OPERAND_INVALID|RCX", () => {
    const r = running();
    teardownTo(r, "TEARDOWN");
    expect(reclaim(r.td, r.data.huge + PAGE).status).toBe(OPERAND_INVALID_RCX);
  });
});
