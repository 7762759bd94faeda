// KVM's invalidation sequence (kvm_mmu_invalidate_begin/range_add/end, mmu_invalidate_retry_gfn in
// virt/kvm/kvm_main.c, v7.0): one union range while any invalidation runs, cleared only when the
// last one ends, and a sequence that moves at each end. 0.6.0 kept a set of ranges and removed a
// range when its own invalidation ended, so a conversion ending during a hole punch over the same
// pages let a fault map a page the punch was about to free.
import { describe, expect, it } from "vitest";
import { MmuInvalidation } from "../../actors/host/tdx/mmu-invalidate.ts";

const M = 0x100000;

describe("KVM's mmu invalidation", () => {
  it("should keep the union range until the last overlapping invalidation ends", () => {
    const inv = new MmuInvalidation();
    inv.begin([[0, 2 * M]]); // a conversion to shared
    inv.begin([[M, 3 * M]]); // a hole punch over part of it and beyond
    inv.finish(); // the conversion ends first
    expect(inv.covers(M)).toBe(true);
    expect(inv.covers(2 * M + 0x1000)).toBe(true);
    // The union, not the ranges: a GPA between two invalidated ranges retries too.
    expect(inv.covers(0)).toBe(true);
    inv.finish();
    expect(inv.covers(M)).toBe(false);
  });

  it("should cover nothing outside the union and nothing once idle", () => {
    const inv = new MmuInvalidation();
    expect(inv.covers(0)).toBe(false);
    inv.begin([[4 * M, 6 * M]]);
    expect(inv.covers(4 * M - 0x1000)).toBe(false);
    expect(inv.covers(6 * M)).toBe(false);
    expect(inv.covers(5 * M)).toBe(true);
  });

  it("should make a fault that noted the sequence before an invalidation ended retry", () => {
    const inv = new MmuInvalidation();
    const seq = inv.seq;
    expect(inv.mustRetry(seq, 8 * M)).toBe(false);
    inv.begin([[0, M]]);
    // Outside the range, the sequence has not moved yet: no retry while it runs...
    expect(inv.mustRetry(seq, 8 * M)).toBe(false);
    inv.finish();
    // ...but kvm_mmu_invalidate_end() moved it: whatever the fault looked up may be stale.
    expect(inv.seq).toBe(seq + 1);
    expect(inv.mustRetry(seq, 8 * M)).toBe(true);
    expect(inv.mustRetry(inv.seq, 8 * M)).toBe(false);
  });

  it("should refuse an end without a begin", () => {
    expect(() => new MmuInvalidation().finish()).toThrow(/without a begin/);
  });
});
