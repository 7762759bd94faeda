// The attack corpus (docs/domain/attacks.md) as adversarial hosts: each attack is a plug-in built
// with the public API (wrap the honest host, observe what it maps, inject calls at a milestone the
// guest posts), plus the guest workload it is aimed at and the outcome attacks.md predicts per
// platform and guest policy. `cocomem matrix` runs them all; a test asserts every cell.
import { DEFAULT_SHARED_BIT, type Request } from "../../protocol/index.ts";
import type { GuestStepInput, TrustedMutant } from "../../protocol/scenario.ts";
import { type Adversary, type AttackContext, defineAdversary, type Platform } from "./api.ts";
import { chain, HostKnowledge, isMilestone } from "./knowledge.ts";

export type Policy = "linux" | "naive";
/** What stopped the attack, or what it achieved (attacks.md's outcome words). */
export type Cell =
  | "blocked"
  | "detected"
  | "DoS"
  | "violation (guest)"
  | "violation (fw)"
  | "violation (host)"
  | "n/a";

export interface Attack {
  readonly id: string;
  readonly title: string;
  /** Who must stop it, per attacks.md. */
  readonly stoppedBy: string;
  readonly workload: readonly GuestStepInput[];
  /** A second vCPU's steps, for attacks that race two vCPUs. */
  readonly secondVcpu?: readonly GuestStepInput[];
  /** A fresh adversary per run (they keep what they observed). */
  readonly adversary: (platform: Platform) => Adversary;
  readonly expected: Readonly<Record<Platform, Readonly<Record<Policy, Cell>>>>;
  /** Run it against a deliberately broken trusted entity (A11), per platform. */
  readonly mutant?: Partial<Record<Platform, TrustedMutant>>;
}

const A = 0x400000;
const B = A + 0x1000;
/** A GPA the guest never accepted or touched. */
const UNUSED = A + 0x10000;
/** Host frames the attacker picks for itself (free memory, nowhere near what KVM allocates). */
const SPARE = 0x500000000000;

const BASIC: readonly GuestStepInput[] = [
  { op: "accept", gpa: A, size: "16K", level: "4K" },
  { op: "write", gpa: A, tag: "secret-a", secret: true },
  { op: "write", gpa: B, tag: "data-b", secret: false },
  { op: "post", value: 1 },
  { op: "read", gpa: A },
  { op: "read", gpa: B },
];

const SHARE: readonly GuestStepInput[] = [
  { op: "accept", gpa: A, size: "16K", level: "4K" },
  { op: "write", gpa: A, tag: "secret-a", secret: true },
  { op: "convert", gpa: A, size: "4K", to: "shared" },
  { op: "post", value: 1 },
  { op: "read", gpa: A },
];

const INJECT: readonly GuestStepInput[] = [
  { op: "accept", gpa: A, size: "16K", level: "4K" },
  { op: "write", gpa: A, tag: "before", secret: false },
  { op: "convert", gpa: A, size: "4K", to: "shared" },
  { op: "post", value: 1 },
  { op: "convert", gpa: A, size: "4K", to: "private" },
  { op: "read", gpa: A },
];

/** A4 (and A11 on TDX): plant chosen data where the guest's page comes back from. */
const inject = (platform: Platform): Adversary => {
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
function reclaimEarly(): Adversary {
  return atMilestone("A11-reclaim-early", "TDH.PHYMEM.PAGE.RECLAIM of A's frame mid-run", (ctx, seen) => {
    ctx.request("fw", { type: "TDH.PHYMEM.PAGE.RECLAIM", hpa: seen.frameOf(A)! });
  })("tdx");
}

/** A11 on pKVM: read every page as the dying VM's pages come back to the host. */
function readOnReclaim(): Adversary {
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

const ROUND_TRIP: readonly GuestStepInput[] = [
  { op: "accept", gpa: A, size: "16K", level: "4K" },
  { op: "convert", gpa: A, size: "4K", to: "shared" },
  { op: "write", gpa: A, tag: "public", secret: false },
  { op: "convert", gpa: A, size: "4K", to: "private" },
  { op: "write", gpa: A, tag: "secret-a", secret: true },
  { op: "read", gpa: A },
];

const TOCTOU: readonly GuestStepInput[] = [
  { op: "accept", gpa: A, size: "16K", level: "4K" },
  { op: "convert", gpa: A, size: "4K", to: "shared" },
  { op: "write", gpa: A, tag: "request", secret: false },
  { op: "post", value: 1 },
  { op: "consume", gpa: A, bounce: B },
  { op: "read", gpa: B },
];
/** A13: one vCPU converts a page back and forth while the other keeps faulting in its neighbours. */
const CONVERTER: readonly GuestStepInput[] = [
  { op: "accept", gpa: A, size: "64K", level: "4K" },
  ...[0, 1, 2].flatMap((round): GuestStepInput[] => [
    { op: "write", gpa: A, tag: `mine-${round}`, secret: true },
    { op: "convert", gpa: A, size: "4K", to: "shared" },
    { op: "write", gpa: A, tag: `pub-${round}`, secret: false },
    { op: "convert", gpa: A, size: "4K", to: "private" },
    { op: "read", gpa: A },
  ]),
];
const TOUCHER: readonly GuestStepInput[] = [
  { op: "accept", gpa: A + 0x20000, size: "64K", level: "4K" },
  ...Array.from({ length: 16 }, (_, i): GuestStepInput[] => [
    { op: "write", gpa: A + 0x20000 + i * 0x1000, tag: `near-${i}`, secret: true },
    { op: "read", gpa: A + 0x20000 + i * 0x1000 },
  ]).flat(),
];

/** A bound on the A12 host's rewrites, in case the guest never halts. */
const MAX_FLIPS = 5000;

/** A12: from the milestone until the vCPU halts, rewrite the shared request page without pause. */
function doubleFetch(platform: Platform): Adversary {
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
function atMilestone(
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

const readAll = (ctx: AttackContext, frames: Iterable<number>) => {
  for (const hpa of frames)
    ctx.request("hw", { type: "host.access", op: "read", hpa }, undefined, "host/kvm");
};

export const ATTACKS: readonly Attack[] = [
  {
    id: "A1",
    title: "remap: point a GPA at the page backing another",
    stoppedBy: "trusted entity",
    workload: BASIC,
    adversary: atMilestone(
      "A1-remap",
      "map B's frame at a second GPA, remove A without blocking",
      (ctx, seen, p) => {
        const b = seen.frameOf(B)!;
        if (p === "tdx") {
          ctx.request("fw", { type: "TDH.MEM.PAGE.AUG", gpa: UNUSED, level: 0, hpa: b });
          ctx.request("fw", { type: "TDH.MEM.PAGE.REMOVE", gpa: A, level: 0 });
        } else {
          ctx.request("fw", {
            type: "__pkvm_host_donate_guest",
            pfn: b / 0x1000,
            gfn: UNUSED / 0x1000,
            vcpu: 0,
          });
        }
      },
    ),
    expected: { tdx: { linux: "blocked", naive: "blocked" }, pkvm: { linux: "blocked", naive: "blocked" } },
  },
  {
    id: "A2",
    title: "replay: save a page's bytes and put them back later",
    stoppedBy: "trusted entity",
    workload: BASIC,
    adversary: atMilestone(
      "A2-replay",
      "snapshot A, then try to bring the bytes back as guest memory",
      (ctx, seen, p) => {
        const a = seen.frameOf(A)!;
        chain(ctx, [
          () => ({ to: "hw", msg: { type: "host.access", op: "read", hpa: a }, from: "host/kvm" }),
          (snapshot) => ({
            to: "hw",
            msg: {
              type: "host.access",
              op: "write",
              hpa: SPARE,
              content:
                snapshot &&
                "outcome" in snapshot &&
                snapshot.outcome.result === "ok" &&
                snapshot.outcome.content
                  ? snapshot.outcome.content
                  : { k: "zero" },
            },
            from: "host/kvm",
          }),
          () =>
            p === "tdx"
              ? {
                  to: "fw",
                  msg: { type: "TDH.MEM.PAGE.ADD", gpa: UNUSED, hpa: SPARE + 0x1000, source: SPARE },
                }
              : {
                  to: "fw",
                  msg: { type: "__pkvm_host_donate_guest", pfn: SPARE / 0x1000, gfn: A / 0x1000, vcpu: 0 },
                },
        ]);
      },
    ),
    expected: { tdx: { linux: "blocked", naive: "blocked" }, pkvm: { linux: "blocked", naive: "blocked" } },
  },
  {
    id: "A3",
    title: "double accept / silent zero page: replace an accepted page with a fresh one",
    stoppedBy: "guest (TDX); trusted entity (pKVM)",
    workload: BASIC,
    adversary: atMilestone(
      "A3-double-accept",
      "build the TD without SEPT_VE_DISABLE; at the milestone remove A and AUG a fresh page there",
      (ctx, _seen, p) => {
        if (p === "pkvm") {
          ctx.request("fw", { type: "__pkvm_host_wrprotect_guest", handle: 1, gfn: A / 0x1000 });
          ctx.request("fw", {
            type: "__pkvm_host_donate_guest",
            pfn: SPARE / 0x1000,
            gfn: A / 0x1000,
            vcpu: 0,
          });
          return;
        }
        chain(ctx, [
          () => ({ to: "fw", msg: { type: "TDH.MEM.RANGE.BLOCK", gpa: A, level: 0 } }),
          () => ({ to: "fw", msg: { type: "TDH.MEM.TRACK" } }),
          () => ({ to: "hw", msg: { type: "vcpu.kick", vcpu: 0 } }),
          () => ({ to: "fw", msg: { type: "TDH.MEM.PAGE.REMOVE", gpa: A, level: 0 } }),
          () => ({ to: "fw", msg: { type: "TDH.MEM.PAGE.AUG", gpa: A, level: 0, hpa: SPARE } }),
        ]);
      },
      {
        onSendReplace: (msg) =>
          msg.type === "KVM_TDX_INIT_VM" ? { ...msg, septVeDisable: false } : undefined,
      },
    ),
    expected: {
      tdx: { linux: "detected", naive: "violation (guest)" },
      pkvm: { linux: "blocked", naive: "blocked" },
    },
  },
  {
    id: "A4",
    title: "data injection on shared -> private: fill the page with chosen data before it comes back",
    stoppedBy: "trusted entity (TDX: ACCEPT zeroes); guest (pKVM: must not trust an unshared page)",
    workload: INJECT,
    adversary: inject,
    expected: {
      tdx: { linux: "blocked", naive: "blocked" },
      pkvm: { linux: "blocked", naive: "violation (guest)" },
    },
  },
  {
    id: "A5",
    title: "leak on private -> shared: read what the guest leaves in a page it shares",
    stoppedBy: "trusted entity (TDX); guest (pKVM)",
    workload: SHARE,
    adversary: atMilestone(
      "A5-leak-on-share",
      "read every frame it gave the guest, shared or private",
      (ctx, seen) => readAll(ctx, [...seen.sharedFrames.values(), ...seen.privateFrames.values()]),
    ),
    expected: {
      tdx: { linux: "blocked", naive: "blocked" },
      pkvm: { linux: "blocked", naive: "violation (guest)" },
    },
  },
  {
    id: "A6",
    title: "read private memory directly",
    stoppedBy: "trusted entity / hardware",
    workload: BASIC,
    adversary: atMilestone("A6-direct-read", "read every private frame", (ctx, seen) =>
      readAll(ctx, seen.privateFrames.values()),
    ),
    expected: { tdx: { linux: "blocked", naive: "blocked" }, pkvm: { linux: "blocked", naive: "blocked" } },
  },
  {
    id: "A7",
    title: "write private memory directly",
    stoppedBy: "hardware",
    workload: BASIC,
    adversary: atMilestone("A7-direct-write", "overwrite A's frame", (ctx, seen) => {
      const content = { k: "data" as const, writer: "host" as const, tag: "forged", secret: false };
      ctx.request(
        "hw",
        { type: "host.access", op: "write", hpa: seen.frameOf(A)!, content },
        undefined,
        "host/kvm",
      );
    }),
    expected: { tdx: { linux: "detected", naive: "detected" }, pkvm: { linux: "blocked", naive: "blocked" } },
  },
  {
    id: "A8",
    title: "punch a hole behind the guest's back",
    stoppedBy: "guest (TDX); trusted entity (pKVM)",
    workload: BASIC,
    adversary: atMilestone("A8-punch-hole", "free A's backing page", (ctx, _seen, p) => {
      const msg: Request =
        p === "tdx"
          ? { type: "fallocate", fd: 10, mode: 3, offset: A, len: 0x1000 }
          : { type: "madvise", gpa: A, size: 0x1000, advice: "MADV_DONTNEED" };
      ctx.request("host/kvm", msg, undefined, "host/vmm");
    }),
    expected: { tdx: { linux: "DoS", naive: "DoS" }, pkvm: { linux: "blocked", naive: "blocked" } },
  },
  {
    id: "A9",
    title: "lie about a conversion: bogus RETRY progress for MapGPA",
    stoppedBy: "guest (TDX); nothing to lie about on pKVM (EL2 performs the share)",
    workload: ROUND_TRIP,
    adversary: (platform) => {
      let toPrivate = false;
      let lied = false;
      return defineAdversary({
        name: "A9-lie",
        description: "answer the to-private MapGPA with RETRY pointing outside the range",
        wrap: {
          onReceive(env) {
            const exit = (env.msg as { exit?: { reason?: string; gpa?: number } }).exit;
            if (env.kind === "response" && exit?.reason === "TDVMCALL<MapGPA>")
              toPrivate = exit.gpa! < DEFAULT_SHARED_BIT;
            return "keep";
          },
          onSend(out) {
            const msg = out.msg as Request;
            if (platform !== "tdx" || lied || !toPrivate || msg.type !== "TDH.VP.ENTER" || !msg.vmcall)
              return "keep";
            lied = true;
            return {
              replace: { ...out, msg: { ...msg, vmcall: { status: "0x0000000000000001", retryGpa: 0 } } },
            };
          },
        },
      });
    },
    expected: { tdx: { linux: "detected", naive: "blocked" }, pkvm: { linux: "blocked", naive: "blocked" } },
  },
  {
    id: "A10",
    title: "refuse or delay service: never run the guest again",
    stoppedBy: "nobody (allowed)",
    workload: BASIC,
    adversary: (platform) => {
      let refusing = false;
      return defineAdversary({
        name: "A10-refuse",
        description: "after the milestone, drop every request to run the vCPU",
        wrap: {
          onReceive(env) {
            if (isMilestone(env)) refusing = true;
            return "keep";
          },
          onSend(out) {
            const run = platform === "tdx" ? "TDH.VP.ENTER" : "__kvm_vcpu_run";
            return refusing && out.msg.type === run ? "drop" : "keep";
          },
        },
      });
    },
    expected: { tdx: { linux: "DoS", naive: "DoS" }, pkvm: { linux: "DoS", naive: "DoS" } },
  },
  {
    id: "A11",
    title: "reclaim without scrub: take a guest page back to host use",
    stoppedBy: "trusted entity (run here as a mutant that skips its zeroing on pKVM)",
    workload: BASIC,
    mutant: { pkvm: { skipZeroing: true } },
    adversary: (platform) => (platform === "tdx" ? reclaimEarly() : readOnReclaim()),
    expected: {
      tdx: { linux: "blocked", naive: "blocked" },
      pkvm: { linux: "violation (fw)", naive: "violation (fw)" },
    },
  },
  {
    id: "A12",
    title: "shared-page TOCTOU: change a request between the guest's check and its use",
    stoppedBy: "guest (copy into private memory, then check and use the copy)",
    workload: TOCTOU,
    adversary: doubleFetch,
    expected: {
      tdx: { linux: "blocked", naive: "violation (guest)" },
      pkvm: { linux: "blocked", naive: "violation (guest)" },
    },
  },
  {
    id: "A13",
    title: "race a conversion with an access: IPI storms while another vCPU faults nearby",
    stoppedBy: "host kernel (invalidation sequence + retry) and guest (never touch what it converts)",
    workload: CONVERTER,
    secondVcpu: TOUCHER,
    adversary: () =>
      defineAdversary({
        name: "A13-storm",
        description: "kick both vCPUs out of the guest around every step of the host's conversion work",
        wrap: {
          onSend(out, ctx) {
            const conversionStep = [
              "TDH.MEM.RANGE.BLOCK",
              "TDH.MEM.PAGE.REMOVE",
              "TDH.MEM.PAGE.AUG",
              "__pkvm_host_donate_guest",
            ];
            if (out.kind === "request" && conversionStep.includes(out.msg.type)) {
              for (const vcpu of [0, 1]) ctx.request("hw", { type: "vcpu.kick", vcpu });
            }
            return "keep";
          },
        },
      }),
    expected: { tdx: { linux: "blocked", naive: "blocked" }, pkvm: { linux: "blocked", naive: "blocked" } },
  },
];

/** An attack by id, or an error that names the corpus's range. */
export function findAttack(id: string): Attack {
  const attack = ATTACKS.find((a) => a.id === id);
  if (!attack) throw new Error(`no attack ${id} in the corpus (${ATTACKS[0]!.id}-${ATTACKS.at(-1)!.id})`);
  return attack;
}
