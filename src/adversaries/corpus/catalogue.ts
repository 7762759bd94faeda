// The attack corpus: each attack a plug-in adversary (tactics.ts) aimed at a guest workload
// (workloads.ts), with the outcome predicted per platform and guest policy from the real systems'
// rules (Linux Documentation/security/snp-tdx-threat-model.rst for who must stop what).
// `cocomem matrix` runs them all; a test asserts every cell. docs/domain/attacks.md describes each
// attack and its cells (A14 and A15 there are out of scope); test/docs checks it against this file.
import { DEFAULT_SHARED_BIT, PAGE_4K, type Request } from "../../../protocol/index.ts";
import type { GuestStepInput, Platform, TrustedMutant } from "../../../protocol/scenario.ts";
import { type Adversary, defineAdversary } from "../api.ts";
import { chain, isMilestone } from "../knowledge.ts";
import { type Firing, fired, type RunView } from "./firing.ts";
import { atMilestone, doubleFetch, inject, readAll, readOnReclaim, reclaimEarly } from "./tactics.ts";
import {
  A,
  B,
  BASIC,
  CONVERTER,
  INJECT,
  ROUND_TRIP,
  SHARE,
  SPARE,
  TOCTOU,
  TOUCHER,
  UNUSED,
} from "./workloads.ts";

export type Policy = "linux" | "naive";
/** What stopped the attack, or what it achieved. */
export type Cell =
  | "blocked"
  | "detected"
  | "DoS"
  | "violation (guest)"
  | "violation (fw)"
  | "violation (host)"
  | "n/a"
  | "did not fire";

export interface Attack {
  readonly id: string;
  readonly title: string;
  /** Who must stop it. */
  readonly stoppedBy: string;
  readonly workload: readonly GuestStepInput[];
  /** A second vCPU's steps, for attacks that race two vCPUs. */
  readonly secondVcpu?: readonly GuestStepInput[];
  /** A fresh adversary per run (they keep what they observed). */
  readonly adversary: (platform: Platform) => Adversary;
  readonly expected: Readonly<Record<Platform, Readonly<Record<Policy, Cell>>>>;
  /** Run it against a deliberately broken trusted entity (A11), per platform. */
  readonly mutant?: Partial<Record<Platform, TrustedMutant>>;
  /** What must happen for the attack to count as tried, per platform; n/a where it does not apply. */
  readonly fires: Readonly<Record<Platform, Firing | "n/a">>;
}

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
    fires: {
      tdx: fired("the host's AUG of B's frame at a GPA the guest never used reached the module", (run) =>
        run.requests("TDH.MEM.PAGE.AUG").some((r) => r.msg.gpa === UNUSED && r.msg.hpa === run.frameOf(B)),
      ),
      pkvm: fired("the host's donation of B's page at a gfn the guest never used reached EL2", (run) =>
        run
          .requests("__pkvm_host_donate_guest")
          .some((r) => r.msg.gfn === UNUSED / PAGE_4K && r.msg.pfn * PAGE_4K === run.frameOf(B)),
      ),
    },
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
    fires: {
      tdx: fired(
        "a host read of A's frame reached the hardware, then the module got the copy by PAGE.ADD",
        (run) =>
          run.hostAccesses("read", [run.frameOf(A)!]).length > 0 &&
          run.requests("TDH.MEM.PAGE.ADD").some((r) => r.msg.source === SPARE),
      ),
      pkvm: fired(
        "a host read of A's page was tried, then EL2 got the copy by donation at A",
        (run) =>
          run.requests("host.access").some((r) => r.msg.op === "read" && r.msg.hpa === run.frameOf(A)) &&
          run.requests("__pkvm_host_donate_guest").some((r) => r.msg.pfn === SPARE / PAGE_4K),
      ),
    },
    expected: { tdx: { linux: "blocked", naive: "blocked" }, pkvm: { linux: "blocked", naive: "blocked" } },
  },
  {
    id: "A3",
    title: "double accept / silent zero page: replace an accepted page with a fresh one",
    stoppedBy: "guest (TDX); trusted entity (pKVM)",
    workload: BASIC,
    adversary: atMilestone(
      "A3-double-accept",
      "build the TD without SEPT_VE_DISABLE but with FLEXIBLE_PENDING_VE (so Linux boots); at the milestone remove A and AUG a fresh page there",
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
          msg.type === "TDH.MNG.INIT" ? { ...msg, septVeDisable: false, flexiblePendingVe: true } : undefined,
      },
    ),
    fires: {
      tdx: fired(
        "the module got REMOVE of A and an AUG of a fresh page at A",
        (run) =>
          run.requests("TDH.MEM.PAGE.REMOVE").some((r) => r.msg.gpa === A && r.from === "host/kvm") &&
          run.requests("TDH.MEM.PAGE.AUG").some((r) => r.msg.gpa === A && r.msg.hpa === SPARE),
      ),
      pkvm: fired("EL2 got a donation of a fresh page at A's gfn", (run) =>
        run
          .requests("__pkvm_host_donate_guest")
          .some((r) => r.msg.gfn === A / PAGE_4K && r.msg.pfn === SPARE / PAGE_4K),
      ),
    },
    expected: {
      // Linux sets TD_CTLS.PENDING_VE_DISABLE itself, so its access to the fresh PENDING page is a
      // TD exit and KVM kills the TD ("Guest access before accepting"): denial of service.
      tdx: { linux: "DoS", naive: "violation (guest)" },
      pkvm: { linux: "blocked", naive: "blocked" },
    },
  },
  {
    id: "A4",
    title: "data injection on shared -> private: fill the page with chosen data before it comes back",
    stoppedBy:
      "trusted entity (TDX: ACCEPT zeroes); nobody on pKVM: MEM_UNSHARE keeps the contents and Linux does not clear an unshared page",
    workload: INJECT,
    adversary: inject,
    fires: {
      tdx: fired(
        "the module got an AUG at A of a frame the host had filled",
        (run) =>
          run.hostAccesses("write", [SPARE]).length > 0 &&
          run.requests("TDH.MEM.PAGE.AUG").some((r) => r.msg.gpa === A && r.msg.hpa === SPARE),
      ),
      pkvm: fired("a host write to A's page was tried while the guest had it shared", (run) =>
        run.requests("host.access").some((r) => r.msg.op === "write" && r.msg.hpa === run.frameOf(A)),
      ),
    },
    expected: {
      tdx: { linux: "blocked", naive: "blocked" },
      // arm-pkvm-guest.c zeroes nothing after MEM_UNSHARE: Linux reads what the host put there.
      pkvm: { linux: "violation (guest)", naive: "violation (guest)" },
    },
  },
  {
    id: "A5",
    title: "leak on private -> shared: read what the guest leaves in a page it shares",
    stoppedBy:
      "trusted entity (TDX: the shared page is a different page); nobody on pKVM: Linux shares in place without clearing",
    workload: SHARE,
    adversary: atMilestone(
      "A5-leak-on-share",
      "read every frame it gave the guest, shared or private",
      (ctx, seen) => readAll(ctx, [...seen.sharedFrames.values(), ...seen.privateFrames.values()]),
    ),
    fires: {
      tdx: fired(
        "a host read of a frame that backed A reached the hardware after the guest shared A",
        (run) => readsAfterSharing(run),
      ),
      pkvm: fired("a host read of A's page reached the hardware after the guest shared A", (run) =>
        readsAfterSharing(run),
      ),
    },
    expected: {
      tdx: { linux: "blocked", naive: "blocked" },
      // Linux zeroes nothing before MEM_SHARE (P1): the secret it left is read in place.
      pkvm: { linux: "violation (guest)", naive: "violation (guest)" },
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
    fires: {
      tdx: fired(
        "a host read of A's private frame reached the hardware",
        (run) => run.hostAccesses("read", [run.frameOf(A)!]).length > 0,
      ),
      pkvm: fired("a host read of A's page was tried", (run) =>
        run.requests("host.access").some((r) => r.msg.op === "read" && r.msg.hpa === run.frameOf(A)),
      ),
    },
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
    fires: {
      tdx: fired(
        "a host write to A's private frame reached the hardware",
        (run) => run.hostAccesses("write", [run.frameOf(A)!]).length > 0,
      ),
      pkvm: fired("a host write to A's page was tried", (run) =>
        run.requests("host.access").some((r) => r.msg.op === "write" && r.msg.hpa === run.frameOf(A)),
      ),
    },
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
    fires: {
      tdx: fired("fallocate(PUNCH_HOLE) over A reached KVM", (run) =>
        run.requests("fallocate").some((r) => r.msg.offset === A),
      ),
      pkvm: fired("madvise over A reached KVM", (run) =>
        run.requests("madvise").some((r) => r.msg.gpa === A),
      ),
    },
    expected: { tdx: { linux: "DoS", naive: "DoS" }, pkvm: { linux: "blocked", naive: "blocked" } },
  },
  {
    id: "A9",
    title: "lie about a conversion: bogus RETRY progress for MapGPA",
    stoppedBy:
      "guest (TDX: tdx_map_gpa() rejects the RETRY address, the conversion fails with -EIO and the PTEs stay shared); nothing to lie about on pKVM (EL2 performs the share)",
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
    fires: {
      tdx: fired(
        "a TDH.VP.ENTER completing the to-private MapGPA with RETRY outside the range reached the module",
        (run) =>
          run
            .requests("TDH.VP.ENTER")
            .some((r) => r.msg.vmcall?.status === "0x0000000000000001" && r.msg.vmcall.retryGpa === 0),
      ),
      // No MapGPA on pKVM: the guest's MEM_SHARE is done by EL2 itself, so there is nothing to lie about.
      pkvm: "n/a",
    },
    // Linux WARNs and fails the conversion (-EIO) but does not stop: nothing is lost either way.
    expected: { tdx: { linux: "blocked", naive: "blocked" }, pkvm: { linux: "n/a", naive: "n/a" } },
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
    fires: {
      tdx: fired("after the milestone the host never entered the vCPU again", (run) =>
        withheld(run, "TDH.VP.ENTER"),
      ),
      pkvm: fired("after the milestone the host never ran the vCPU again", (run) =>
        withheld(run, "__kvm_vcpu_run"),
      ),
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
    fires: {
      tdx: fired("TDH.PHYMEM.PAGE.RECLAIM of A's frame reached the module while the TD ran", (run) =>
        run
          .requests("TDH.PHYMEM.PAGE.RECLAIM")
          .some(
            (r) =>
              r.msg.hpa === run.frameOf(A) &&
              r.seq <
                (run.firstEffect((l) => l.effect.e === "lifecycle" && l.effect.state === "TD_TEARDOWN") ??
                  Number.POSITIVE_INFINITY),
          ),
      ),
      pkvm: fired("a host read of a page EL2 handed back from the dying VM reached the hardware", (run) => {
        const reclaimed = run.requests("__pkvm_reclaim_dying_guest_page").map((r) => r.seq);
        const first = Math.min(...reclaimed);
        return run.hostAccesses("read", run.framesBehind(A)).some((seq) => seq > first);
      }),
    },
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
    fires: {
      tdx: fired(
        "a host write to the shared request page reached the hardware while the guest consumed it",
        (run) => rewroteDuringConsume(run),
      ),
      pkvm: fired(
        "a host write to the shared request page reached the hardware while the guest consumed it",
        (run) => rewroteDuringConsume(run),
      ),
    },
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
    fires: {
      tdx: fired(
        "the host kicked the vCPUs in the same step as a BLOCK, REMOVE or AUG of its conversion work",
        (run) => kickedWith(run, ["TDH.MEM.RANGE.BLOCK", "TDH.MEM.PAGE.REMOVE", "TDH.MEM.PAGE.AUG"]),
      ),
      pkvm: fired("the host kicked the vCPUs in the same step as a donation", (run) =>
        kickedWith(run, ["__pkvm_host_donate_guest"]),
      ),
    },
    expected: { tdx: { linux: "blocked", naive: "blocked" }, pkvm: { linux: "blocked", naive: "blocked" } },
  },
];

/** An attack by id, or an error that names the corpus's range. */
export function findAttack(id: string): Attack {
  const attack = ATTACKS.find((a) => a.id === id);
  if (!attack) throw new Error(`no attack ${id} in the corpus (${ATTACKS[0]!.id}-${ATTACKS.at(-1)!.id})`);
  return attack;
}

/** A5: a host read of a frame behind A after the guest's page tables made A shared. */
function readsAfterSharing(run: RunView): boolean {
  const shared = run.firstEffect(
    (l) => l.effect.e === "guest-view" && l.effect.view === "shared" && l.effect.gpa === A,
  );
  return shared !== undefined && run.hostAccesses("read", run.framesBehind(A)).some((seq) => seq > shared);
}

/** A10: after the milestone, no further request to run the vCPU. */
function withheld(run: RunView, runCall: "TDH.VP.ENTER" | "__kvm_vcpu_run"): boolean {
  const milestone = run.milestone;
  return milestone !== undefined && run.requests(runCall).every((r) => r.seq < milestone);
}

/** A12: a host write to the shared request frame between the milestone and the guest's `consumed`. */
function rewroteDuringConsume(run: RunView): boolean {
  const milestone = run.milestone;
  const consumed = run.firstEffect((l) => l.effect.e === "consumed");
  if (milestone === undefined || consumed === undefined) return false;
  return run.hostAccesses("write", run.framesBehind(A)).some((seq) => seq > milestone && seq < consumed);
}

/** A13: a vCPU kick sent by the host in the same step (same cause) as one of its conversion calls. */
function kickedWith(run: RunView, conversionCalls: readonly Request["type"][]): boolean {
  const causes = new Set(conversionCalls.flatMap((type) => run.requests(type).map((r) => r.causedBy)));
  return run.requests("vcpu.kick").some((k) => k.from === "host/kvm" && causes.has(k.causedBy));
}
