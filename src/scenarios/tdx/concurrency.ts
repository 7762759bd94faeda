// Two vCPUs working on the same 2M range at once: vCPU 0 converts its 64K piece back and forth
// while vCPU 1 lazily accepts the other half page by page. They share one S-EPT table, KVM's mmu
// lock and its invalidation sequence: faults racing an attribute change retry (RET_PF_RETRY), the
// guest's accept lock serialises accepts, and TLB-tracking IPIs kick the other vCPU out. Then
// sixteen vCPUs at once, converting disjoint pieces (correct) and overlapping ranges (a guest bug).
import type { GuestStepInput } from "../../../protocol/scenario.ts";
import { defineScenario } from "../define.ts";
import { disjointPieces, overlappingRanges, VCPUS } from "../sixteen-vcpus.ts";

const REGION = 0x400000;
const HALF = 0x100000;

function converter(): GuestStepInput[] {
  const steps: GuestStepInput[] = [{ op: "accept", gpa: REGION, size: "64K", level: "4K" }];
  for (let round = 0; round < 3; round++) {
    steps.push(
      { op: "write", gpa: REGION, tag: `r${round}`, secret: true },
      { op: "convert", gpa: REGION, size: "64K", to: "shared" },
      { op: "write", gpa: REGION + 0x1000, tag: `pub${round}`, secret: false },
      { op: "convert", gpa: REGION, size: "64K", to: "private" },
      { op: "read", gpa: REGION + 0x1000 },
      { op: "write", gpa: REGION + 0x2000, tag: `after${round}`, secret: true },
      { op: "read", gpa: REGION + 0x2000 },
    );
  }
  return steps;
}

function acceptor(): GuestStepInput[] {
  return [
    { op: "accept", gpa: REGION + HALF, size: HALF, level: "4K" },
    { op: "write", gpa: REGION + HALF, tag: "v1", secret: true },
    { op: "read", gpa: REGION + HALF },
  ];
}

export const twoVcpus = defineScenario({
  name: "tdx/two-vcpus-convert",
  description:
    "vCPU 0 converts a 64K piece of a 2M range to shared and back three times while vCPU 1 accepts the other half of the range page by page: mmu-lock serialisation, invalidation retries, TLB-flush IPIs; no violation.",
  platform: "tdx",
  guest: { memory: "16M", vcpus: 2, workload: [converter(), acceptor()] },
  expect: { outcome: "completed" },
});

export const sixteenVcpus = defineScenario({
  name: "tdx/sixteen-vcpus-convert",
  description:
    "Sixteen vCPUs each convert their own 16K piece to shared and back twice, four pieces to a 2M region: faults, zaps and TRACKs race under KVM's mmu_lock (read for faults, write for zaps) and the invalidation sequence; no violation.",
  platform: "tdx",
  guest: { memory: "16M", vcpus: VCPUS, workload: disjointPieces(true) },
  expect: { outcome: "completed" },
});

export const sixteenVcpusOverlap = defineScenario({
  name: "tdx/sixteen-vcpus-overlap",
  description:
    "A guest bug: sixteen vCPUs accept and convert overlapping 128K ranges, so one accepts a page its neighbour has made shared; the accept fails and Linux panics (TDX: Failed to accept memory). The honest host never fails a SEAMCALL.",
  platform: "tdx",
  guest: { memory: "16M", vcpus: VCPUS, workload: overlappingRanges(true) },
  expect: { outcome: "guest-terminated" },
});
