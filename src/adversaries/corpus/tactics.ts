// How the corpus's adversaries work: learn what the honest host maps from its own messages, then act
// at the guest's milestone (or on a given message) with requests of their own. Each function
// builds a fresh adversary per run: they keep what they observed.
import { DEFAULT_SHARED_BIT, type Request } from "../../../protocol/index.ts";
import type { Platform } from "../../../protocol/scenario.ts";
import { type Adversary, type AttackContext, defineAdversary } from "../api.ts";
import { HostKnowledge, isMilestone } from "../knowledge.ts";
import { A, SPARE } from "./workloads.ts";

/** A4 (and A11 on TDX): plant chosen data where the guest's page comes back from. */
export const inject = (platform: Platform): Adversary => {
  const seen = new HostKnowledge();
  let armed = false;
  const forged = { k: "data" as const, writer: "host" as const, tag: "injected", secret: false };
  return defineAdversary({
    name: "A4-inject",
    description: "write chosen data where the guest's page will come back from (and, on TDX, AUG that frame)",
    wrap: {
      onSend(out, ctx) {
        seen.learn(out);
        // TDX: hand the guest a frame the host filled itself instead of a fresh guest_memfd page.
        if (
          armed &&
          out.kind === "request" &&
          out.msg.type === "TDH.MEM.PAGE.AUG" &&
          "gpa" in out.msg &&
          out.msg.gpa === A
        ) {
          ctx.request(
            "hw",
            { type: "host.access", op: "write", hpa: SPARE, content: forged },
            undefined,
            "host/kvm",
          );
          return { replace: { ...out, msg: { ...out.msg, hpa: SPARE } } };
        }
        return "keep";
      },
      onReceive(env, ctx) {
        if (!armed && isMilestone(env)) {
          armed = true;
          const frame = seen.frameOf(A);
          if (frame !== undefined && platform === "pkvm") {
            ctx.request(
              "hw",
              { type: "host.access", op: "write", hpa: frame, content: forged },
              undefined,
              "host/vmm",
            );
          }
        }
        return "keep";
      },
    },
  });
};

/** A11 on TDX: reclaim a guest page while the TD still runs (the module only reclaims at teardown). */
export function reclaimEarly(): Adversary {
  return atMilestone("A11-reclaim-early", "TDH.PHYMEM.PAGE.RECLAIM of A's frame mid-run", (ctx, seen) => {
    ctx.request("fw", { type: "TDH.PHYMEM.PAGE.RECLAIM", hpa: seen.frameOf(A)! });
  })("tdx");
}

/** A11 on pKVM: read every page as the dying VM's pages come back to the host. */
export function readOnReclaim(): Adversary {
  const seen = new HostKnowledge();
  return defineAdversary({
    name: "A11-read-reclaimed",
    description: "read each page the hypervisor hands back at teardown",
    wrap: {
      onSend: seen.watch,
      onReceive(env, ctx) {
        const re = env.kind === "response" && env.msg.type === "__pkvm_reclaim_dying_guest_page";
        if (re)
          for (const hpa of seen.privateFrames.values())
            ctx.request("hw", { type: "host.access", op: "read", hpa }, undefined, "host/kvm");
        return "keep";
      },
    },
  });
}

/** A bound on the A12 host's rewrites, in case the guest never halts. */
const MAX_FLIPS = 5000;

/** A12: from the milestone until the vCPU halts, rewrite the shared request page without pause. */
export function doubleFetch(platform: Platform): Adversary {
  const seen = new HostKnowledge();
  let flipping = false;
  let halted = false;
  return defineAdversary({
    name: "A12-double-fetch",
    description: "keep rewriting the shared request page while the guest consumes it",
    wrap: {
      onSend: seen.watch,
      onReceive(env, ctx) {
        const reason = (env.msg as { exit?: { reason?: string } }).exit?.reason;
        if (reason === "HLT" || reason === "PSCI_CPU_OFF") halted = true;
        if (flipping || !isMilestone(env)) return "keep";
        flipping = true;
        const frame = platform === "tdx" ? seen.sharedFrames.get(A + DEFAULT_SHARED_BIT) : seen.frameOf(A);
        const rewrite = (n: number): void => {
          if (halted || n >= MAX_FLIPS || frame === undefined) return;
          const content = { k: "data" as const, writer: "host" as const, tag: `request-${n}`, secret: false };
          ctx.request(
            "hw",
            { type: "host.access", op: "write", hpa: frame, content },
            () => rewrite(n + 1),
            "host/vmm",
          );
        };
        rewrite(0);
        return "keep";
      },
    },
  });
}

/** An adversary that learns what the honest host maps and acts once, at the first milestone. */
export function atMilestone(
  name: string,
  description: string,
  act: (ctx: AttackContext, seen: HostKnowledge, platform: Platform) => void,
  extra: { onSendReplace?: (msg: Request) => Request | undefined } = {},
) {
  return (platform: Platform): Adversary => {
    const seen = new HostKnowledge();
    let done = false;
    return defineAdversary({
      name,
      description,
      wrap: {
        onSend(out) {
          seen.learn(out);
          const replaced = out.kind === "request" ? extra.onSendReplace?.(out.msg as Request) : undefined;
          return replaced ? { replace: { ...out, msg: replaced } } : "keep";
        },
        onReceive(env, ctx) {
          if (!done && isMilestone(env)) {
            done = true;
            act(ctx, seen, platform);
          }
          return "keep";
        },
      },
    });
  };
}

export const readAll = (ctx: AttackContext, frames: Iterable<number>) => {
  for (const hpa of frames)
    ctx.request("hw", { type: "host.access", op: "read", hpa }, undefined, "host/kvm");
};
