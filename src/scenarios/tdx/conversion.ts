// Private <-> shared conversion, explicit (MapGPA) and implicit (touching the other alias).
import { PAGE_4K } from "../../../protocol/index.ts";
import type { GuestStepInput } from "../../../protocol/scenario.ts";
import type { CheckedRun } from "../define.ts";
import { defineScenario } from "../define.ts";

const REGION = 0x400000; // 4M: a 2M-aligned region of 2M + 4K, as in private_mem_conversions_test
const REGION_SIZE = 0x200000 + PAGE_4K;
/** The kernel selftest's ranges: {offset, size} within the region. */
const SELFTEST_RANGES: [number, number][] = [
  [0, PAGE_4K],
  [0, 0x200000],
  [PAGE_4K, PAGE_4K],
  [PAGE_4K, 0x200000],
  [0x200000, PAGE_4K],
];

function roundTrip([offset, size]: [number, number], i: number): GuestStepInput[] {
  const first = REGION + offset;
  const last = first + size - PAGE_4K;
  return [
    { op: "write", gpa: first, tag: `secret-${i}-first`, secret: true, alias: "own" },
    { op: "write", gpa: last, tag: `secret-${i}-last`, secret: true, alias: "own" },
    { op: "read", gpa: last, alias: "own" },
    { op: "convert", gpa: first, size, to: "shared" },
    { op: "write", gpa: first, tag: `public-${i}`, secret: false, alias: "own" },
    { op: "post", value: i },
    { op: "read", gpa: first, alias: "own" },
    { op: "convert", gpa: first, size, to: "private" },
    { op: "read", gpa: first, alias: "own" },
    { op: "read", gpa: last, alias: "own" },
    { op: "write", gpa: last, tag: `secret-${i}-again`, secret: true, alias: "own" },
  ];
}

/** Every guest read through its private alias, in order: content kinds. */
function privateReads(run: CheckedRun, gpa: number): string[] {
  const out: string[] = [];
  for (const line of run.log) {
    if (line.type === "effect" && line.effect.e === "read" && line.effect.by.startsWith("guest/")) {
      if (line.effect.gpa === gpa) out.push(line.effect.content.k);
    }
  }
  return out;
}

export const conversionRoundTrips = defineScenario(
  {
    name: "tdx/convert-roundtrips",
    description:
      "private -> shared -> private over the selftest ranges {0,4K} {0,2M} {4K,4K} {4K,2M} {2M,4K} of a 2M+4K region; the host reads every shared page at each milestone.",
    platform: "tdx",
    guest: {
      memory: "16M",
      workload: [
        [
          { op: "accept", gpa: REGION, size: REGION_SIZE, level: "2M" },
          ...SELFTEST_RANGES.flatMap(roundTrip),
        ],
      ],
    },
    host: {
      onPost: SELFTEST_RANGES.map((_, i) => ({
        value: i,
        do: [{ op: "read-shared" as const, gpa: REGION, size: REGION_SIZE }],
      })),
    },
    expect: { outcome: "completed" },
  },
  (run) => {
    const hostReads = run.log.filter(
      (l) => l.type === "effect" && l.effect.e === "read" && l.effect.by === "host/vmm",
    ).length;
    return hostReads > 0 ? [] : ["the host never read the shared pages"];
  },
);

export const implicitConversion = defineScenario(
  {
    name: "tdx/implicit-conversion",
    description:
      "The guest touches the shared alias of a private page: KVM_EXIT_MEMORY_FAULT, the VMM converts (the private page is zapped and cleared), the access completes on a fresh shared page; the guest survives, then converts back and reads zero.",
    platform: "tdx",
    guest: {
      memory: "16M",
      workload: [
        [
          { op: "accept", gpa: REGION, size: "2M", level: "2M" },
          { op: "write", gpa: REGION, tag: "private-secret", secret: true },
          { op: "read", gpa: REGION, alias: "other" },
          { op: "convert", gpa: REGION, size: PAGE_4K, to: "private" },
          { op: "read", gpa: REGION },
        ],
      ],
    },
    expect: { outcome: "completed" },
  },
  (run) => {
    const unmet: string[] = [];
    const faults = run.result.stats["exit:KVM_EXIT_MEMORY_FAULT"] ?? 0;
    if (faults !== 1) unmet.push(`expected one KVM_EXIT_MEMORY_FAULT, saw ${faults}`);
    const reads = privateReads(run, REGION);
    if (reads.join(",") !== "zero")
      unmet.push(`private reads after re-accept: ${reads.join(",")}, expected zero`);
    return unmet;
  },
);
