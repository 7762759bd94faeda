// party <-> hw: memory accesses and the page tables the hardware walks. Guest vCPUs access GPAs
// (the shared bit picks S-EPT or shared EPT); the host accesses host physical addresses directly.
import { z } from "zod";
import { Addr, Content, VcpuId } from "./common.ts";
import { call } from "./define.ts";
import { HostZeroReason, SeptState } from "./effects.ts";

/** What a guest access ends in, once the vCPU runs again. A TD exit is invisible to the guest. */
export const GuestAccessResult = z.discriminatedUnion("result", [
  z.strictObject({ result: z.literal("ok"), content: Content.optional() }),
  /** Virtualization exception: only without SEPT_VE_DISABLE (a PENDING private page). */
  z.strictObject({ result: z.literal("#VE"), gpa: Addr, septState: SeptState }),
  /** Machine check: poison consumed. The TD is dead. */
  z.strictObject({ result: z.literal("#MC"), gpa: Addr }),
]);

export const HostAccessResult = z.discriminatedUnion("result", [
  z.strictObject({ result: z.literal("ok"), content: Content.optional() }),
  /** arm64: the host stage-2 does not map the page (given to the hyp or a guest): abort injected. */
  z.strictObject({ result: z.literal("abort"), hpa: Addr }),
  /** Host consumed poison (erratum parts): the host crashes. */
  z.strictObject({ result: z.literal("#MC"), hpa: Addr }),
]);

export const memoryCalls = {
  "guest.access": call(
    "guest.access",
    "memory",
    "A vCPU load or store at a GPA; completes when the vCPU runs (after any TD exits are handled).",
    { vcpu: VcpuId, op: z.enum(["read", "write"]), gpa: Addr, content: Content.optional() },
    { outcome: GuestAccessResult },
  ),
  "host.access": call(
    "host.access",
    "memory",
    "A host load or store through the direct map: clear is clear_page (ordinary stores); movdir64b is full-line writes that also clear poison and the TD ownership bit.",
    {
      op: z.enum(["read", "write", "clear", "movdir64b"]),
      hpa: Addr,
      /** clear / movdir64b over a whole folio: 1 (4K) or 512 (2M) pages. */
      pages: z.union([z.literal(1), z.literal(512)]).optional(),
      content: Content.optional(),
      why: HostZeroReason.optional(),
    },
    { outcome: HostAccessResult },
  ),
  "ept.map": call(
    "ept.map",
    "memory",
    "KVM installs a shared-EPT leaf (shared GPA -> host page).",
    { gpa: Addr, hpa: Addr },
    { ok: z.boolean() },
  ),
  "ept.zap": call(
    "ept.zap",
    "memory",
    "KVM removes shared-EPT leaves in a range and flushes the TLB.",
    { gpa: Addr, size: Addr },
    { zapped: z.number().int() },
  ),
  "vcpu.kick": call(
    "vcpu.kick",
    "memory",
    "IPI: force a vCPU out of the guest (it re-enters at the new TLB epoch); answered once it is out.",
    { vcpu: VcpuId },
    { wasRunning: z.boolean() },
  ),
} as const;
