// Lazy accept: a 1 GiB TD whose memory stays unaccepted until used (mm/unaccepted_memory.c);
// the guest accepts 16 MiB on first use. The host's mapping size against the guest's accept
// size decides the cost: the "512 x 4K operations" of the seed thread.
import type { CheckedRun } from "../define.ts";
import { defineScenario } from "../define.ts";

const USED = 16 * 0x100000;
const UNITS_2M = USED / 0x200000;
const PAGES_4K = USED / 0x1000;

function counts(run: CheckedRun) {
  const s = run.result.stats;
  return {
    exits: s["exit:EPT_VIOLATION"] ?? 0,
    augs: s["TDH.MEM.PAGE.AUG"] ?? 0,
    accepts: s["TDG.MEM.PAGE.ACCEPT"] ?? 0,
  };
}

function expectCounts(run: CheckedRun, want: { exits: number; augs: number; accepts: number }): string[] {
  const got = counts(run);
  return (["exits", "augs", "accepts"] as const)
    .filter((k) => got[k] !== want[k])
    .map((k) => `${k}: ${got[k]}, expected ${want[k]}`);
}

const workload = (level: "4K" | "2M") => [
  [
    { op: "accept" as const, gpa: 0, size: USED, level },
    { op: "write" as const, gpa: "0x1000", tag: "data", secret: true },
    { op: "read" as const, gpa: "0x1000" },
    { op: "read" as const, gpa: USED - 0x1000 },
  ],
];

export const lazyAccept4K = defineScenario(
  {
    name: "tdx/lazy-accept-4k",
    description:
      "1 GiB TD, 16 MiB accepted at 4K on a host mapping 4K: one exit, AUG and re-executed ACCEPT per page.",
    platform: "tdx",
    guest: { memory: "1G", workload: workload("4K") },
    host: { privateLevel: "4K" },
    expect: { outcome: "completed" },
  },
  (run) => expectCounts(run, { exits: PAGES_4K, augs: PAGES_4K, accepts: PAGES_4K }),
);

export const lazyAccept2M = defineScenario(
  {
    name: "tdx/lazy-accept-2m",
    description: "1 GiB TD, 16 MiB accepted at 2M on a host mapping 2M: one exit, AUG and ACCEPT per 2M.",
    platform: "tdx",
    guest: { memory: "1G", workload: workload("2M") },
    host: { privateLevel: "2M" },
    expect: { outcome: "completed" },
  },
  (run) => expectCounts(run, { exits: UNITS_2M, augs: UNITS_2M, accepts: UNITS_2M }),
);

export const lazyAccept2MOn4K = defineScenario(
  {
    name: "tdx/lazy-accept-2m-on-4k-host",
    description:
      "1 GiB TD accepting at 2M while the host maps 4K (upstream KVM): each 2M ends in PAGE_SIZE_MISMATCH and 512 x 4K exits, AUGs and accepts.",
    platform: "tdx",
    guest: { memory: "1G", workload: workload("2M") },
    host: { privateLevel: "4K" },
    expect: { outcome: "completed" },
  },
  // Per 2M: ACCEPT(2M) exits, the host AUGs 4K, the re-executed ACCEPT(2M) gets PAGE_SIZE_MISMATCH;
  // then 512 ACCEPT(4K), of which 511 exit and are re-executed after their AUG. (A re-executed
  // TDCALL is the same request: counted once.)
  (run) => expectCounts(run, { exits: 512 * UNITS_2M, augs: 512 * UNITS_2M, accepts: 513 * UNITS_2M }),
);
