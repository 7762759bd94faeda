// The hardware requests a host makes of the machine (the memory boundary's calls other than a
// guest's access): a host load or store, a shared-EPT map or zap, an IPI that kicks a vCPU out of
// the guest. Both trusted sides answer them the same way, through the platform's CPU model.
import type { Address, Content, Envelope, HostZeroReason, RequestEnvelope } from "../../protocol/index.ts";
import type { PartyIO } from "../kit/outbox.ts";

export const HARDWARE_REQUESTS: readonly string[] = ["host.access", "ept.map", "ept.zap", "vcpu.kick"];

/** What the CPU model of a platform offers the host. */
export interface HostFacingCpu {
  hostAccess(
    by: Address,
    op: "read" | "write" | "clear" | "movdir64b",
    hpa: number,
    content: Content | undefined,
    why: HostZeroReason | undefined,
    pages?: number,
  ): { result: "ok"; content?: Content } | { result: "abort" | "#MC"; hpa: number };
  /** Install a shared-EPT leaf; false where the platform has none (arm64). */
  mapShared(by: Address, gpa: number, hpa: number): boolean;
  zapShared(by: Address, gpa: number, size: number): number;
}

/**
 * Which event a message to the trusted side is: a guest instruction (it runs only inside its
 * vCPU's run request), a hardware request, or a call to the trusted entity (`hostCall`).
 */
export function classifyTrustedEvent(env: Envelope, hostCall: string): string {
  if (env.from.startsWith("guest/")) return "instruction";
  return HARDWARE_REQUESTS.includes(env.msg.type) ? "hardware" : hostCall;
}

export function answerHardware(
  io: PartyIO,
  env: RequestEnvelope,
  cpu: HostFacingCpu,
  vcpus: { kick(vcpu: number): boolean },
): void {
  const msg = env.msg;
  switch (msg.type) {
    case "host.access":
      return io.reply(env, {
        type: "host.access",
        outcome: cpu.hostAccess(env.from, msg.op, msg.hpa, msg.content, msg.why, msg.pages),
      });
    case "ept.map":
      return io.reply(env, { type: "ept.map", ok: cpu.mapShared(env.from, msg.gpa, msg.hpa) });
    case "ept.zap":
      return io.reply(env, { type: "ept.zap", zapped: cpu.zapShared(env.from, msg.gpa, msg.size) });
    case "vcpu.kick":
      return io.reply(env, { type: "vcpu.kick", wasRunning: vcpus.kick(msg.vcpu) });
    default:
      throw new Error(`bug: ${msg.type} is not a hardware request`);
  }
}
