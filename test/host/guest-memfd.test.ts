// guest_memfd's folio map, packed one number per folio: what goes in comes back out, for 4K and
// 2M folios, at host addresses past 2^32 and 2^40, prepared or not.
import { describe, expect, it } from "vitest";
import { GuestMemfd } from "../../actors/host/guest-memfd.ts";

const K4 = 0x1000;
const M2 = 0x200000;

describe("GuestMemfd", () => {
  it("gives each folio back as it was put in, and finds the 2M folio under any of its pages", () => {
    const gmem = new GuestMemfd(10, 0x40000000);
    gmem.insert(0x3000, { hpa: 0x1_0000_5000, pages: 1, prepared: false });
    gmem.insert(M2, { hpa: 0x200_0000_0000, pages: 512, prepared: true });
    expect(gmem.lookup(0x3000)).toEqual([0x3000, { hpa: 0x1_0000_5000, pages: 1, prepared: false }]);
    expect(gmem.lookup(0x3fff)).toEqual([0x3000, { hpa: 0x1_0000_5000, pages: 1, prepared: false }]);
    expect(gmem.lookup(M2 + 0x1ff000)).toEqual([M2, { hpa: 0x200_0000_0000, pages: 512, prepared: true }]);
    expect(gmem.lookup(0x4000)).toBeUndefined();
    expect(gmem.lookup(2 * M2)).toBeUndefined();
  });

  it("marks a folio prepared once, and only that folio", () => {
    const gmem = new GuestMemfd(10, 0x1000000);
    gmem.insert(0, { hpa: 0x7000, pages: 1, prepared: false });
    gmem.insert(K4, { hpa: 0x9000, pages: 1, prepared: false });
    gmem.markPrepared(0);
    gmem.markPrepared(0);
    expect(gmem.lookup(0)?.[1]).toEqual({ hpa: 0x7000, pages: 1, prepared: true });
    expect(gmem.lookup(K4)?.[1]).toEqual({ hpa: 0x9000, pages: 1, prepared: false });
  });

  it("lists the folios overlapping a range in offset order, either way it looks them up", () => {
    const gmem = new GuestMemfd(10, 0x1000000);
    gmem.insert(M2, { hpa: 0x4000_0000, pages: 512, prepared: false });
    gmem.insert(5 * K4, { hpa: 0x5000, pages: 1, prepared: false });
    gmem.insert(K4, { hpa: 0x1000, pages: 1, prepared: true });
    // A short range is walked page by page, a long one through the map: the same answer.
    expect(gmem.within(0, 2 * K4).map(([at]) => at)).toEqual([K4]);
    expect(gmem.within(0, 0x1000000).map(([at]) => at)).toEqual([K4, 5 * K4, M2]);
    expect(gmem.within(M2 + K4, K4)).toEqual([[M2, { hpa: 0x4000_0000, pages: 512, prepared: false }]]);
    gmem.remove(5 * K4);
    expect([...gmem.all()].map(([at, folio]) => [at, folio.hpa])).toEqual([
      [M2, 0x4000_0000],
      [K4, 0x1000],
    ]);
  });
});
