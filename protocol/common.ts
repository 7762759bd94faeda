// Shared vocabulary of every protocol boundary: addresses, sizes, 64-bit status values, content labels.
import { z } from "zod";

/** Every party address; the orchestrator stamps `from` with one of these by connection. */
export const Address = z.union([
  z.enum(["guest/kernel", "host/kvm", "host/vmm", "fw", "hw"]),
  z.templateLiteral(["guest/vcpu", z.number().int().nonnegative()]),
]);
export type Address = z.infer<typeof Address>;

/** The platforms the model knows. */
export const Platform = z.enum(["tdx", "pkvm"]);
export type Platform = z.infer<typeof Platform>;

/** The trust domain that owns an address: what a transport connects. */
export type PartyName = "guest" | "host" | "trusted";
export const PARTIES: readonly PartyName[] = ["guest", "host", "trusted"];
export function partyOf(address: Address): PartyName {
  if (address.startsWith("guest/")) return "guest";
  if (address.startsWith("host/")) return "host";
  return "trusted";
}
export const vcpuAddress = (vcpu: number): Address => `guest/vcpu${vcpu}`;

/** Guest or host physical address. Safe integers: 52-bit physical addresses fit in a double exactly. */
export const Addr = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
export const VcpuId = z.number().int().nonnegative().max(4095);

export const PAGE_4K = 0x1000;
export const PAGE_2M = 0x200000;
export const PAGE_1G = 0x40000000;

/** A TD's guest physical address width (TD_PARAMS.GPAW): 48 or 52 bits. */
export const GpaWidth = z.union([z.literal(48), z.literal(52)]);
export type GpaWidth = z.infer<typeof GpaWidth>;
/** The shared bit is the GPA's top bit: set, the access goes through the shared EPT. */
export const sharedBitOf = (gpaWidth: GpaWidth): number => 2 ** (gpaWidth - 1);
/** The shared bit of a TD with the usual 48-bit GPA width (bit 47). */
export const DEFAULT_SHARED_BIT = sharedBitOf(48);

/** Mapping level as TDX numbers it: 0 = 4K, 1 = 2M, 2 = 1G. */
export const Level = z.union([z.literal(0), z.literal(1), z.literal(2)]);
export type Level = z.infer<typeof Level>;
export const levelSize = (level: Level): number => [PAGE_4K, PAGE_2M, PAGE_1G][level]!;
export const levelName = (level: Level): string => ["4K", "2M", "1G"][level]!;

/** A 64-bit value carried exactly: lower-case hex with 16 digits (JSON and IPC safe). */
export const U64 = z.string().regex(/^0x[0-9a-f]{16}$/, "a 64-bit value as 0x + 16 hex digits");
export type U64 = z.infer<typeof U64>;
export const u64 = (value: bigint): U64 => `0x${BigInt.asUintN(64, value).toString(16).padStart(16, "0")}`;

/**
 * Memory contents are labels, not bytes: enough to say who wrote what and whether plaintext
 * reached the wrong party. `uninit` is whatever a frame held before (never trusted by anyone).
 */
export const Content = z.discriminatedUnion("k", [
  z.object({ k: z.literal("uninit") }),
  z.object({ k: z.literal("zero") }),
  z.object({
    k: z.literal("data"),
    writer: z.enum(["guest", "host"]),
    tag: z.string(),
    secret: z.boolean(),
  }),
  /** Initial image content, copied in by TDH.MEM.PAGE.ADD (measured or not). */
  z.object({ k: z.literal("image"), tag: z.string() }),
  /** What a read with the wrong key yields: no plaintext. */
  z.object({ k: z.literal("ciphertext"), keyId: z.number().int() }),
]);
export type Content = z.infer<typeof Content>;

/** A string that identifies a label by value (field order does not matter). */
export function contentKey(c: Content): string {
  switch (c.k) {
    case "data":
      return `data|${c.writer}|${c.secret ? 1 : 0}|${c.tag}`;
    case "image":
      return `image|${c.tag}`;
    case "ciphertext":
      return `ciphertext|${c.keyId}`;
    default:
      return c.k;
  }
}

/** Same label, whatever order its fields were written in. */
export function sameContent(a: Content, b: Content): boolean {
  if (a.k !== b.k) return false;
  switch (a.k) {
    case "data":
      return b.k === "data" && a.writer === b.writer && a.tag === b.tag && a.secret === b.secret;
    case "image":
      return b.k === "image" && a.tag === b.tag;
    case "ciphertext":
      return b.k === "ciphertext" && a.keyId === b.keyId;
    default:
      return true;
  }
}

export function describeContent(c: Content): string {
  switch (c.k) {
    case "data":
      return `${c.writer}:${c.tag}${c.secret ? "(secret)" : ""}`;
    case "image":
      return `image:${c.tag}`;
    case "ciphertext":
      return `ciphertext(key ${c.keyId})`;
    default:
      return c.k;
  }
}
