// Workloads for sixteen vCPUs converting memory at once, on either platform. Linux converts a
// page from one place at a time (the page allocator hands each caller its own pages), so the
// disjoint workload is what a correct guest does; the overlapping one is a guest bug.
import type { GuestStepInput } from "../../protocol/scenario.ts";

export const VCPUS = 16;
/** Where the converted memory starts: above what boot and the image use. */
const BASE = 0x400000;
const PAGE = 0x1000;

/**
 * vCPU i converts its own 16K piece of one of four 2M regions (four vCPUs per region), twice:
 * a secret, to shared, an I/O buffer, back to private, a fresh page read, a new secret read back.
 * The pieces never overlap; the 2M regions, their S-EPT tables and KVM's locks are shared.
 */
export function disjointPieces(tdx: boolean): GuestStepInput[][] {
  return Array.from({ length: VCPUS }, (_, i) => {
    const piece = BASE + (i % 4) * 0x200000 + Math.floor(i / 4) * 0x4000;
    const steps: GuestStepInput[] = tdx ? [{ op: "accept", gpa: piece, size: "16K", level: "4K" }] : [];
    for (let round = 0; round < 2; round++) {
      steps.push(
        { op: "write", gpa: piece, tag: `v${i}-secret${round}`, secret: true },
        { op: "convert", gpa: piece, size: "16K", to: "shared" },
        { op: "write", gpa: piece + PAGE, tag: `v${i}-io${round}`, secret: false },
        { op: "convert", gpa: piece, size: "16K", to: "private" },
        { op: "read", gpa: piece + PAGE },
        { op: "write", gpa: piece + 2 * PAGE, tag: `v${i}-after${round}`, secret: true },
        { op: "read", gpa: piece + 2 * PAGE },
      );
    }
    return steps;
  });
}

/**
 * vCPU i converts [64K*i, +128K) from BASE to shared and back twice, accepting it (TDX) before,
 * between and after: each range overlaps both neighbours' by half, a guest bug, since each vCPU
 * treats pages another is converting as its own. The lazy accept of a page a neighbour has made
 * shared fails and Linux panics (TDX); unsharing a page a neighbour already unshared is refused by
 * EL2 (pKVM).
 */
export function overlappingRanges(tdx: boolean): GuestStepInput[][] {
  return Array.from({ length: VCPUS }, (_, i) => {
    const start = BASE + i * 0x10000;
    const accept: GuestStepInput[] = tdx ? [{ op: "accept", gpa: start, size: "128K", level: "4K" }] : [];
    const roundTrip: GuestStepInput[] = [
      { op: "convert", gpa: start, size: "128K", to: "shared" },
      { op: "convert", gpa: start, size: "128K", to: "private" },
    ];
    return [...accept, ...roundTrip, ...accept, ...roundTrip, ...accept];
  });
}
