// The guest workloads the attack corpus aims at, and the addresses they use. Each is a vCPU's steps:
// accept a few pages, write a secret or a request, share or convert, post a milestone for the
// attacking host to act on, then read back what the guest trusts.
import type { GuestStepInput } from "../../../protocol/scenario.ts";

export const A = 0x400000;
export const B = A + 0x1000;
/** A GPA the guest never accepted or touched. */
export const UNUSED = A + 0x10000;
/** Host frames the attacker picks for itself (free memory, nowhere near what KVM allocates). */
export const SPARE = 0x500000000000;

export const BASIC: readonly GuestStepInput[] = [
  { op: "accept", gpa: A, size: "16K", level: "4K" },
  { op: "write", gpa: A, tag: "secret-a", secret: true },
  { op: "write", gpa: B, tag: "data-b", secret: false },
  { op: "post", value: 1 },
  { op: "read", gpa: A },
  { op: "read", gpa: B },
];

export const SHARE: readonly GuestStepInput[] = [
  { op: "accept", gpa: A, size: "16K", level: "4K" },
  { op: "write", gpa: A, tag: "secret-a", secret: true },
  { op: "convert", gpa: A, size: "4K", to: "shared" },
  { op: "post", value: 1 },
  { op: "read", gpa: A },
];

export const INJECT: readonly GuestStepInput[] = [
  { op: "accept", gpa: A, size: "16K", level: "4K" },
  { op: "write", gpa: A, tag: "before", secret: false },
  { op: "convert", gpa: A, size: "4K", to: "shared" },
  { op: "post", value: 1 },
  { op: "convert", gpa: A, size: "4K", to: "private" },
  { op: "read", gpa: A },
];

export const ROUND_TRIP: readonly GuestStepInput[] = [
  { op: "accept", gpa: A, size: "16K", level: "4K" },
  { op: "convert", gpa: A, size: "4K", to: "shared" },
  { op: "write", gpa: A, tag: "public", secret: false },
  { op: "convert", gpa: A, size: "4K", to: "private" },
  { op: "write", gpa: A, tag: "secret-a", secret: true },
  { op: "read", gpa: A },
];

export const TOCTOU: readonly GuestStepInput[] = [
  { op: "accept", gpa: A, size: "16K", level: "4K" },
  { op: "convert", gpa: A, size: "4K", to: "shared" },
  { op: "write", gpa: A, tag: "request", secret: false },
  { op: "post", value: 1 },
  { op: "consume", gpa: A, bounce: B },
  { op: "read", gpa: B },
];
/** A13: one vCPU converts a page back and forth while the other keeps faulting in its neighbours. */
export const CONVERTER: readonly GuestStepInput[] = [
  { op: "accept", gpa: A, size: "64K", level: "4K" },
  ...[0, 1, 2].flatMap((round): GuestStepInput[] => [
    { op: "write", gpa: A, tag: `mine-${round}`, secret: true },
    { op: "convert", gpa: A, size: "4K", to: "shared" },
    { op: "write", gpa: A, tag: `pub-${round}`, secret: false },
    { op: "convert", gpa: A, size: "4K", to: "private" },
    { op: "read", gpa: A },
  ]),
];
export const TOUCHER: readonly GuestStepInput[] = [
  { op: "accept", gpa: A + 0x20000, size: "64K", level: "4K" },
  ...Array.from({ length: 16 }, (_, i): GuestStepInput[] => [
    { op: "write", gpa: A + 0x20000 + i * 0x1000, tag: `near-${i}`, secret: true },
    { op: "read", gpa: A + 0x20000 + i * 0x1000 },
  ]).flat(),
];
