// PageMap: a Map from page addresses to page addresses, stored as page numbers. It must answer
// exactly as a Map<number, number> of the same addresses would, in the same order.
import { describe, expect, it } from "vitest";
import { PageMap } from "../../src/kit/page-map.ts";

describe("PageMap", () => {
  it("answers as a Map of the same addresses would, past 2^32 and 2^40 included", () => {
    const pages = new PageMap();
    const map = new Map<number, number>();
    const entries: [number, number][] = [
      [0x400000, 0x1_0000_2000],
      [0xff_ffff_f000, 0x500000000000],
      [0, 0x1000],
      [0x200000, 0x40000000],
    ];
    for (const [gpa, hpa] of entries) {
      pages.set(gpa, hpa);
      map.set(gpa, hpa);
    }
    pages.delete(0);
    map.delete(0);
    pages.set(0x400000, 0x2_0000_0000);
    map.set(0x400000, 0x2_0000_0000);
    expect([...pages.entries()]).toEqual([...map.entries()]);
    expect([...pages.keys()]).toEqual([...map.keys()]);
    expect([...pages.values()]).toEqual([...map.values()]);
    expect([...pages]).toEqual([...map]);
    expect(pages.size).toBe(3);
    expect(pages.get(0xff_ffff_f000)).toBe(0x500000000000);
    expect(pages.get(0)).toBeUndefined();
    expect(pages.has(0x200000)).toBe(true);
    expect(pages.has(0x201000)).toBe(false);
    pages.clear();
    expect(pages.size).toBe(0);
  });
});
