// What a malicious host knows without cheating: the frames it handed the guest (it chose them),
// read off its own outgoing messages, and the milestones the guest posts (exits it handles).
import type { Envelope } from "../../protocol/index.ts";
import type { AttackContext, OutMsg, Request, Response } from "./api.ts";

export interface GivenFrame {
  gpa: number;
  hpa: number;
}

export class HostKnowledge {
  /** Private frames given to the guest (TDX AUG/ADD, pKVM donations), by GPA. */
  readonly privateFrames = new Map<number, number>();
  /** Frames mapped as shared guest memory (TDX shared EPT), by GPA. */
  readonly sharedFrames = new Map<number, number>();

  learn(out: OutMsg): void {
    const msg = out.msg as Request;
    switch (msg.type) {
      case "TDH.MEM.PAGE.AUG":
        if (msg.level === 0) this.privateFrames.set(msg.gpa, msg.hpa);
        return;
      case "TDH.MEM.PAGE.ADD":
        this.privateFrames.set(msg.gpa, msg.hpa);
        return;
      case "__pkvm_host_donate_guest":
        this.privateFrames.set(msg.gfn * 0x1000, msg.pfn * 0x1000);
        return;
      case "ept.map":
        this.sharedFrames.set(msg.gpa, msg.hpa);
        return;
      default:
        return;
    }
  }

  /** An `onSend` hook that only watches: learn, let everything through. */
  readonly watch = (out: OutMsg): "keep" => {
    this.learn(out);
    return "keep";
  };

  /** The frame the guest's page at `gpa` lives in, as far as the host knows. */
  frameOf(gpa: number): number | undefined {
    return this.privateFrames.get(gpa - (gpa % 0x1000));
  }
}

/** The guest posted a milestone (port 0x80 on TDX, the POST device on pKVM). */
export function isMilestone(env: Envelope): boolean {
  const msg = env.msg as { exit?: { reason?: string } };
  return env.kind === "response" && (msg.exit?.reason === "IO_INSTRUCTION" || msg.exit?.reason === "MMIO");
}

type Step = (
  previous: Response | undefined,
) => { to: "fw" | "hw"; msg: Request; from?: "host/kvm" | "host/vmm" } | undefined;

/** Issue requests one after another, each built from the previous response (BLOCK, then TRACK...). */
export function chain(ctx: AttackContext, steps: Step[], previous?: Response): void {
  const [step, ...rest] = steps;
  if (!step) return;
  const next = step(previous);
  if (!next) return chain(ctx, rest, previous);
  ctx.request(next.to, next.msg, (response) => chain(ctx, rest, response as Response), next.from);
}
