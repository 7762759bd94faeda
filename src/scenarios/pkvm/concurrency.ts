// Sixteen vCPUs of a protected guest converting memory at once: stage-2 faults on one IPA from
// several vCPUs are serialised by KVM's mmu_lock (taken for write on pKVM), and MEM_SHARE /
// MEM_UNSHARE run per page at EL2. Disjoint pieces complete; overlapping ranges are a guest bug.
import { defineScenario } from "../define.ts";
import { disjointPieces, overlappingRanges, VCPUS } from "../sixteen-vcpus.ts";

export const pkvmSixteenVcpus = defineScenario({
  name: "pkvm/sixteen-vcpus-convert",
  description:
    "Sixteen vCPUs each share and unshare their own 16K piece twice, four pieces to a 2M region, touching pages other vCPUs fault on: no violation.",
  platform: "pkvm",
  guest: { memory: "16M", vcpus: VCPUS, workload: disjointPieces(false) },
  expect: { outcome: "completed" },
});

export const pkvmSixteenVcpusOverlap = defineScenario({
  name: "pkvm/sixteen-vcpus-overlap",
  description:
    "A guest bug: sixteen vCPUs share and unshare overlapping 128K ranges, so one unshares a page its neighbour already unshared; EL2 answers SMCCC_RET_INVALID_PARAMETER and the guest stops, naming its own bug. The honest host never fails a hypercall.",
  platform: "pkvm",
  guest: { memory: "16M", vcpus: VCPUS, workload: overlappingRanges(false) },
  expect: { outcome: "guest-terminated" },
});
