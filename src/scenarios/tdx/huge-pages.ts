// Huge pages: a 2M accept on a 4K host mapping, and a 4K accept on a 2M PENDING page.
import { PAGE_2M } from "../../../protocol/index.ts";
import type { CheckedRun } from "../define.ts";
import { defineScenario } from "../define.ts";

const REGION = 0x400000;

function statusesOf(run: CheckedRun, type: string): string[] {
  return run.log.flatMap((l) =>
    l.type === "msg" && l.kind === "response" && l.msg.type === type && "status" in l.msg
      ? [String(l.msg.status)]
      : [],
  );
}

export const acceptSizeMismatch = defineScenario(
  {
    name: "tdx/accept-2m-on-4k-mapping",
    description:
      "The guest accepts 2M where the host mapped 4K: TDX_PAGE_SIZE_MISMATCH, and the guest falls back to 512 x 4K accepts.",
    platform: "tdx",
    guest: {
      memory: "8M",
      workload: [
        [
          { op: "accept", gpa: REGION, size: "2M", level: "2M" },
          { op: "write", gpa: REGION + PAGE_2M - 0x1000, tag: "last-page", secret: false },
          { op: "read", gpa: REGION + PAGE_2M - 0x1000 },
        ],
      ],
    },
    host: { privateLevel: "4K" },
    expect: { outcome: "completed" },
  },
  (run) => {
    const mismatches = statusesOf(run, "TDG.MEM.PAGE.ACCEPT").filter((s) => s === "0xc0000b0b00000001");
    return mismatches.length === 1 ? [] : [`expected one TDX_PAGE_SIZE_MISMATCH|1, saw ${mismatches.length}`];
  },
);

export const acceptDemote = defineScenario(
  {
    name: "tdx/accept-4k-on-2m-pending",
    description:
      "The host maps 2M and the guest accepts 4K pages: the first ACCEPT(4K) finds a 2M PENDING leaf and exits; KVM blocks, tracks and DEMOTEs it; the 512 4K accepts then succeed.",
    platform: "tdx",
    guest: {
      memory: "8M",
      workload: [
        [
          { op: "accept", gpa: REGION, size: "2M", level: "4K" },
          { op: "write", gpa: REGION + 0x5000, tag: "x", secret: false },
          { op: "read", gpa: REGION + 0x5000 },
        ],
      ],
    },
    host: { privateLevel: "2M" },
    expect: { outcome: "completed" },
  },
  (run) => {
    const unmet: string[] = [];
    const s = run.result.stats;
    if (s["TDH.MEM.PAGE.DEMOTE"] !== 1)
      unmet.push(`expected one DEMOTE, saw ${s["TDH.MEM.PAGE.DEMOTE"] ?? 0}`);
    if (s["TDH.MEM.PAGE.AUG"] !== 1) unmet.push(`expected one 2M AUG, saw ${s["TDH.MEM.PAGE.AUG"] ?? 0}`);
    const ok = statusesOf(run, "TDG.MEM.PAGE.ACCEPT").filter((x) => x === "0x0000000000000000").length;
    if (ok !== 512) unmet.push(`expected 512 successful 4K accepts, saw ${ok}`);
    return unmet;
  },
);
