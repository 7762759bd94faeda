// Effects: what a party did to state it owns, logged with the address that caused it. Hardware
// effects (read, write, zero, fault, poison, #MC) are the evidence monitors and timelines use.
import { z } from "zod";
import { Addr, Address, Content, Level } from "./common.ts";

export const Effect = z.discriminatedUnion("e", [
  /** A party observed a frame's content (guest load, host load, module copy source). */
  z.strictObject({ e: z.literal("read"), by: Address, hpa: Addr, gpa: Addr.optional(), content: Content }),
  z.strictObject({ e: z.literal("write"), by: Address, hpa: Addr, gpa: Addr.optional(), content: Content }),
  /** A frame cleared, by whom and why ("ACCEPT", "MOVDIR64B", "gmem first use"...). */
  z.strictObject({
    e: z.literal("zero"),
    by: Address,
    hpa: Addr,
    gpa: Addr.optional(),
    pages: z.number().int().positive(),
    why: z.string(),
    keyId: z.number().int(),
  }),
  z.strictObject({
    e: z.literal("fault"),
    by: Address,
    kind: z.string(),
    gpa: Addr.optional(),
    hpa: Addr.optional(),
    detail: z.string(),
  }),
  z.strictObject({ e: z.literal("poison"), by: Address, hpa: Addr, detail: z.string() }),
  z.strictObject({ e: z.literal("mc"), by: Address, hpa: Addr, detail: z.string() }),
  /** Frame ownership changed (PAMT on TDX): owner "host" means free for host use. */
  z.strictObject({
    e: z.literal("owner"),
    by: Address,
    hpa: Addr,
    pages: z.number().int().positive(),
    from: z.string(),
    to: z.string(),
    pageType: z.string(),
  }),
  /** S-EPT / stage-2 entry state change. */
  z.strictObject({
    e: z.literal("sept"),
    by: Address,
    gpa: Addr,
    level: Level,
    from: z.string(),
    to: z.string(),
    /** The page the leaf maps (leaf states). */
    hpa: Addr.optional(),
    /** The S-EPT page a non-leaf entry points to (NL_* states). */
    spt: Addr.optional(),
    /** DEMOTE: the state of the 512 new 4K leaves. */
    children: z.string().optional(),
  }),
  /** Shared EPT leaf installed or removed by KVM. */
  z.strictObject({
    e: z.literal("ept"),
    by: Address,
    gpa: Addr,
    hpa: Addr.optional(),
    op: z.enum(["map", "zap"]),
  }),
  /** Host bookkeeping: memory attribute and guest_memfd backing changes. */
  z.strictObject({ e: z.literal("attr"), by: Address, gpa: Addr, size: Addr, private: z.boolean() }),
  /** A guest_memfd folio allocated or freed: `gpa` is the folio's first GPA. */
  z.strictObject({
    e: z.literal("gmem"),
    by: Address,
    gpa: Addr,
    hpa: Addr,
    pages: z.number().int().positive(),
    op: z.enum(["alloc", "free"]),
  }),
  /** Guest bookkeeping: pages it believes accepted / private / shared. */
  z.strictObject({ e: z.literal("accepted"), by: Address, gpa: Addr, size: Addr }),
  z.strictObject({
    e: z.literal("guest-view"),
    by: Address,
    gpa: Addr,
    size: Addr,
    view: z.enum(["private", "shared"]),
  }),
  /** The guest acted on a request it read from memory: what it checked, and what it then used. */
  z.strictObject({ e: z.literal("consumed"), by: Address, gpa: Addr, checked: Content, used: Content }),
  /** Lifecycle of the TD / VM and of parties. */
  z.strictObject({
    e: z.literal("lifecycle"),
    by: Address,
    state: z.string(),
    detail: z.string().optional(),
  }),
  /** The guest stopped itself (a detection) or a party stopped answering. */
  z.strictObject({ e: z.literal("terminated"), by: Address, reason: z.string() }),
]);
export type Effect = z.infer<typeof Effect>;
