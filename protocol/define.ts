// One definition per message gives its runtime schema (zod) and its static type (z.infer), so the
// two can never drift. Every message is a call: a request and exactly one response.
import { z } from "zod";

/** tdcall, seamcall: TDX. guest-hvc, host-hvc: pKVM. kvm: the VMM's ioctls. memory: accesses and page tables. */
export type Boundary = "tdcall" | "seamcall" | "guest-hvc" | "host-hvc" | "kvm" | "memory";

export interface CallDef<N extends string, Q extends z.ZodRawShape, R extends z.ZodRawShape> {
  readonly name: N;
  readonly boundary: Boundary;
  readonly doc: string;
  readonly request: z.ZodObject<{ type: z.ZodLiteral<N> } & Q, z.core.$strict>;
  readonly response: z.ZodObject<{ type: z.ZodLiteral<N> } & R, z.core.$strict>;
}

export function call<N extends string, Q extends z.ZodRawShape, R extends z.ZodRawShape>(
  name: N,
  boundary: Boundary,
  doc: string,
  request: Q,
  response: R,
): CallDef<N, Q, R> {
  return {
    name,
    boundary,
    doc,
    request: z.strictObject({ type: z.literal(name), ...request }),
    response: z.strictObject({ type: z.literal(name), ...response }),
  };
}
