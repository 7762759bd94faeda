// The protocol: every message any party may send, the envelope that carries it, and the log format.
import { z } from "zod";
import { Address } from "./common.ts";
import type { CallDef } from "./define.ts";
import { Effect } from "./effects.ts";
import { kvmCalls } from "./kvm.ts";
import { memoryCalls } from "./memory.ts";
import { guestHvcs, hostHvcs } from "./pkvm-hvc.ts";
import { seamcalls } from "./seamcall.ts";
import { tdcalls } from "./tdcall.ts";

export * from "./common.ts";
export * from "./effects.ts";
export * from "./errno.ts";
export {
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  FALLOC_PUNCH_HOLE,
  KVM_HC_MAP_GPA_RANGE,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
  KvmExit,
} from "./kvm.ts";
export { PkvmExit } from "./pkvm-hvc.ts";
export { TdExit, VmcallCompletion } from "./seamcall.ts";
export * from "./status.ts";
export { CONFIG_FLEXIBLE_PENDING_VE, TD_CTLS_PENDING_VE_DISABLE, TdMetadataField } from "./tdcall.ts";

export const calls = {
  ...tdcalls,
  ...seamcalls,
  ...guestHvcs,
  ...hostHvcs,
  ...kvmCalls,
  ...memoryCalls,
} as const;

type Calls = typeof calls;
export type CallName = keyof Calls;

export type Request<N extends CallName = CallName> = N extends CallName
  ? z.infer<Calls[N]["request"]>
  : never;
export type Response<N extends CallName = CallName> = N extends CallName
  ? z.infer<Calls[N]["response"]>
  : never;
export type Message = Request | Response;

export type AnyCallDef = CallDef<string, z.ZodRawShape, z.ZodRawShape>;
export const catalogue: readonly AnyCallDef[] = Object.values(calls) as readonly AnyCallDef[];

export const MessageKind = z.enum(["request", "response"]);
export type MessageKind = z.infer<typeof MessageKind>;

/** One delivered message, as logged. `re` names the request a response answers. */
export const Envelope = z.strictObject({
  type: z.literal("msg"),
  seq: z.number().int().nonnegative(),
  id: z.string(),
  from: Address,
  to: Address,
  kind: MessageKind,
  re: z.string().optional(),
  causedBy: z.string().optional(),
  msg: z.looseObject({ type: z.string() }),
});
export type Envelope = Omit<z.infer<typeof Envelope>, "msg"> & { msg: Message };
/** An envelope known to carry a request (what handlers of incoming calls receive). */
export type RequestEnvelope<N extends CallName = CallName> = Envelope & { kind: "request"; msg: Request<N> };

export const EffectLine = z.strictObject({
  type: z.literal("effect"),
  seq: z.number().int().nonnegative(),
  causedBy: z.string().optional(),
  effect: Effect,
});
export type EffectLine = z.infer<typeof EffectLine>;

/** Look up the schema a message of this kind must match; undefined if no such message exists. */
export function schemaFor(kind: MessageKind, type: string): z.ZodType | undefined {
  const def = (calls as Record<string, AnyCallDef>)[type];
  if (!def) return undefined;
  return kind === "request" ? def.request : def.response;
}
