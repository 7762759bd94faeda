// RangeSet: sorted disjoint intervals in a B+ tree. Edge cases by hand, then a long seeded run of
// random operations checked against a naive Set of integers, then a size the old array-rebuilding
// version could not reach in a test's time (minutes at 200k).
import { describe, expect, it } from "vitest";
import { RangeSet } from "../../src/kit/range-set.ts";
import { Rng } from "../../src/kit/rng.ts";

function setOf(...ranges: [number, number][]): RangeSet {
  const set = new RangeSet();
  for (const [start, end] of ranges) set.add(start, end);
  return set;
}

describe("RangeSet", () => {
  it("should merge an added range with neighbours it touches on either side", () => {
    const set = setOf([0, 10], [20, 30]);
    set.add(10, 20);
    expect(set.intervalCount).toBe(1);
    expect(set.covers(0, 30)).toBe(true);
    expect(set.has(30)).toBe(false);
  });

  it("should swallow every interval an added range overlaps", () => {
    const set = setOf([0, 2], [4, 6], [8, 10], [12, 14]);
    set.add(1, 9);
    expect(set.intervalCount).toBe(2);
    expect(set.covers(0, 10)).toBe(true);
    expect(set.covers(12, 14)).toBe(true);
    expect(set.has(11)).toBe(false);
  });

  it("should change nothing when an added range is already covered", () => {
    const set = setOf([0, 10]);
    set.add(2, 5);
    expect(set.intervalCount).toBe(1);
    expect(set.covers(0, 10)).toBe(true);
  });

  it("should split an interval when removing from its middle", () => {
    const set = setOf([0, 10]);
    set.remove(3, 6);
    expect(set.intervalCount).toBe(2);
    expect(set.covers(0, 3)).toBe(true);
    expect(set.intersects(3, 6)).toBe(false);
    expect(set.covers(6, 10)).toBe(true);
  });

  it("should trim intervals a removed range overlaps and drop those it covers", () => {
    const set = setOf([0, 4], [6, 8], [10, 14]);
    set.remove(2, 12);
    expect(set.intervalCount).toBe(2);
    expect(set.covers(0, 2)).toBe(true);
    expect(set.covers(12, 14)).toBe(true);
    expect(set.intersects(2, 12)).toBe(false);
  });

  it("should ignore empty and inverted ranges", () => {
    const set = setOf([0, 10]);
    set.add(20, 20);
    set.add(30, 25);
    set.remove(5, 5);
    set.remove(8, 2);
    expect(set.intervalCount).toBe(1);
    expect(set.covers(0, 10)).toBe(true);
    expect(set.covers(50, 50)).toBe(true);
    expect(set.intersects(5, 5)).toBe(false);
    expect(new RangeSet().covers(3, 3)).toBe(true);
  });

  it("should answer nothing on an empty set", () => {
    const set = new RangeSet();
    expect(set.has(0)).toBe(false);
    expect(set.covers(0, 1)).toBe(false);
    expect(set.intersects(0, 100)).toBe(false);
    set.remove(0, 100);
    expect(set.intervalCount).toBe(0);
  });

  it("should agree with a naive Set of integers over 20,000 seeded random operations", () => {
    const UNIVERSE = 300;
    const rng = new Rng(11);
    const set = new RangeSet();
    const naive = new Set<number>();
    // Mostly short ranges (many intervals, many touching), sometimes long ones, sometimes empty.
    const range = (): [number, number] => {
      const start = rng.int(UNIVERSE);
      const length = rng.int(10) === 0 ? rng.int(UNIVERSE) : rng.int(8);
      return rng.int(20) === 0 ? [start, start - rng.int(3)] : [start, Math.min(UNIVERSE, start + length)];
    };
    // Mismatches are collected, not expected one by one: expect() per query would dominate the run.
    const wrong: string[] = [];
    for (let step = 0; step < 20_000 && wrong.length < 5; step++) {
      const [start, end] = range();
      const op = rng.int(2) === 0 ? "add" : "remove";
      set[op](start, end);
      for (let v = start; v < end; v++) op === "add" ? naive.add(v) : naive.delete(v);
      const at = `after ${op}(${start}, ${end}) at step ${step}`;
      // Every few steps the whole universe, and as many intervals as maximal runs (touching
      // intervals merged, none left empty); every step a sample of queries.
      if (step % 20 === 0) {
        let runs = 0;
        for (let v = 0; v < UNIVERSE; v++) {
          if (set.has(v) !== naive.has(v)) wrong.push(`has(${v}) ${at}`);
          if (naive.has(v) && !naive.has(v - 1)) runs++;
        }
        if (set.intervalCount !== runs) wrong.push(`${set.intervalCount} intervals, ${runs} runs ${at}`);
      }
      for (let q = 0; q < 3; q++) {
        const [qs, qe] = range();
        let all = true;
        let any = false;
        for (let v = qs; v < qe; v++) {
          all &&= naive.has(v);
          any ||= naive.has(v);
        }
        if (set.covers(qs, qe) !== all) wrong.push(`covers(${qs}, ${qe}) ${at}`);
        if (set.intersects(qs, qe) !== any) wrong.push(`intersects(${qs}, ${qe}) ${at}`);
        const probe = rng.int(UNIVERSE + 2) - 1;
        if (set.has(probe) !== naive.has(probe)) wrong.push(`has(${probe}) ${at}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("should take 200,000 scattered pages and give them back page by page", () => {
    // The 1 TiB guest's pattern: 4K pages at a 1 MiB stride, then removed in the same order.
    const PAGE = 0x1000;
    const STRIDE = 0x100000;
    const COUNT = 200_000;
    const set = new RangeSet();
    for (let i = 0; i < COUNT; i++) set.add(i * STRIDE, i * STRIDE + PAGE);
    expect(set.intervalCount).toBe(COUNT);
    expect(set.has((COUNT - 1) * STRIDE)).toBe(true);
    expect(set.has(STRIDE + PAGE)).toBe(false);
    expect(set.intersects(PAGE, STRIDE)).toBe(false);
    for (let i = 0; i < COUNT; i++) set.remove(i * STRIDE, i * STRIDE + PAGE);
    expect(set.intervalCount).toBe(0);
  });
});
