// The explorer on the real model: the generic adversary is the honest host when every choice is
// 0, a search finds the leak of a naive pKVM guest, the findings do not depend on the number of
// workers, shrinking keeps the finding and never grows the tape, and a replay file reproduces the
// run byte for byte or names the choice where it diverged.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { anyAdversary } from "../../src/adversaries/any/adversary.ts";
import { FULL_MIX } from "../../src/adversaries/any/mix.ts";
import { hostActions as vocabulary } from "../../src/adversaries/any/vocabulary.ts";
import { targetOf } from "../../src/explore/batch.ts";
import { writeCounterexample } from "../../src/explore/findings.ts";
import { logDigest, type ReplayFile, readReplay, replay } from "../../src/explore/replay-file.ts";
import { exploreRun } from "../../src/explore/runner.ts";
import { type ExploreSummary, explore } from "../../src/explore/search.ts";
import { actionCount, shrink } from "../../src/explore/shrink.ts";
import { lenient } from "../../src/explore/strategies.ts";
import { runScenario } from "../../src/run/run.ts";
import { findBuiltIn } from "../../src/scenarios/index.ts";

const SHARE = { scenario: "pkvm/explore-share", adversary: "any", guestPolicy: "naive" } as const;
const LEAK = "confidentiality: no guest secret reaches the host (guest)";
const out = mkdtempSync(join(tmpdir(), "cocomem-explore-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** The log without its header (which names the host) and verdict stats: what the parties did. */
const behaviour = (log: readonly { type: string }[]) =>
  log.filter((l) => l.type === "msg" || l.type === "effect" || l.type === "violation");

describe("the generic adversary", () => {
  for (const name of ["tdx/explore-secret", "pkvm/explore-share"]) {
    it(`is the honest host when every choice is 0 (${name})`, async () => {
      const scenario = findBuiltIn(name)!;
      // The same delivery order for both: every scheduler choice 0 too.
      const honest = await runScenario(scenario, { seed: 3, strategy: lenient([]) });
      const zeros = await runScenario(scenario, {
        seed: 3,
        adversary: anyAdversary(scenario.spec.platform),
        strategy: lenient([]),
        recordTape: true,
      });
      expect(zeros.result.outcome).toBe("completed");
      expect(behaviour(zeros.log)).toEqual(behaviour(honest.log));
      // It did make choices (every one 0): the tape is what the explorer searches.
      expect(zeros.tape!.filter((c) => c.stream === "host").length).toBeGreaterThan(20);
      expect(zeros.tape!.every((c) => c.value === 0)).toBe(true);
    });
  }

  it("draws its requests from the protocol's host routes of its platform", () => {
    const tdx = vocabulary("tdx").map((a) => a.type);
    const pkvm = vocabulary("pkvm").map((a) => a.type);
    for (const type of [
      "TDH.MEM.PAGE.AUG",
      "TDH.MEM.RANGE.BLOCK",
      "TDH.PHYMEM.PAGE.RECLAIM",
      "fallocate",
      "host.access",
      "ept.map",
      "vcpu.kick",
    ])
      expect(tdx).toContain(type);
    for (const type of [
      "__pkvm_host_donate_guest",
      "__pkvm_host_share_guest",
      "madvise",
      "host.access",
      "vcpu.kick",
    ])
      expect(pkvm).toContain(type);
    // Never the other platform's calls, the guest's calls, or a call whose arguments the host
    // cannot draw from what it has seen (a vCPU count, a memslot).
    expect(tdx.filter((t) => t.startsWith("__pkvm") || t.startsWith("TDG.") || t === "guest.access")).toEqual(
      [],
    );
    expect(
      pkvm.filter((t) => t.startsWith("TDH.") || t.startsWith("KVM_TDX_") || t.startsWith("ept.")),
    ).toEqual([]);
    expect(tdx).not.toContain("KVM_TDX_INIT_VM");
    expect(tdx).not.toContain("KVM_SET_USER_MEMORY_REGION2");
    expect(pkvm).not.toContain("__pkvm_init_vm");
  });
});

describe("explore on pkvm/explore-share with the naive guest", () => {
  let one: ExploreSummary;
  beforeAll(async () => {
    one = await explore({ target: SHARE, strategy: "portfolio", seed: 1, runs: 400, workers: 1 });
  }, 120_000);

  it("finds the secret the guest leaves in the page it shares, blaming the guest", () => {
    expect(one.runs).toBe(400);
    expect(one.found.map((f) => f.finding.key)).toContain(LEAK);
    expect(one.cells).toBeGreaterThan(0);
    expect(one.cells).toBeLessThanOrEqual(one.cellTotal);
  });

  it("finds the same, in the same runs, with 2 worker threads", async () => {
    const two = await explore({ target: SHARE, strategy: "portfolio", seed: 1, runs: 400, workers: 2 });
    const brief = (s: ExploreSummary) => s.found.map((f) => [f.index, f.finding.key, f.tape]);
    expect(brief(two)).toEqual(brief(one));
    expect(two.outcomes).toEqual(one.outcomes);
    expect(two.transitions).toBe(one.transitions);
  }, 120_000);

  it("finds the same again with the same seed, and other runs with another", async () => {
    const again = await explore({ target: SHARE, strategy: "portfolio", seed: 1, runs: 400, workers: 1 });
    expect(again.found.map((f) => f.index)).toEqual(one.found.map((f) => f.index));
    const other = await explore({ target: SHARE, strategy: "portfolio", seed: 2, runs: 400, workers: 1 });
    expect(other.outcomes).not.toEqual(one.outcomes);
  }, 120_000);

  it("shrinks the finding: the same monitor and party, never a longer tape or more host actions", async () => {
    const found = one.found.find((f) => f.finding.key === LEAK)!;
    const target = await targetOf(SHARE);
    const shrunk = await shrink(target, found.finding, {
      tape: found.tape,
      seed: found.plan.seed,
      mix: found.plan.mix,
    });
    expect(actionCount(shrunk.tape)).toBeLessThanOrEqual(found.actions);
    // One read of the shared frame is all it takes (bounded search finds no shorter: 0 is the honest run).
    expect(actionCount(shrunk.tape)).toBe(1);
    expect(shrunk.tape.length).toBeLessThanOrEqual(found.tape.length);
    const rerun = await exploreRun(target, {
      seed: found.plan.seed,
      mix: found.plan.mix,
      strategy: lenient(shrunk.tape),
    });
    expect(rerun.finding?.key).toBe(LEAK);
  }, 60_000);

  describe("a replay file", () => {
    let file: string;
    let written: ReplayFile;
    beforeAll(async () => {
      const found = one.found.find((f) => f.finding.key === LEAK)!;
      const example = await writeCounterexample(await targetOf(SHARE), found, {
        outDir: out,
        exploreSeed: 1,
        shrink: true,
      });
      file = example.file;
      written = readReplay(file);
      // The story names the host's read and ends where the monitor fired.
      expect(example.story.some((line) => line.includes("host") && line.includes("host.access"))).toBe(true);
      expect(example.story.at(-1)).toContain("CONFIDENTIALITY no guest secret reaches the host (guest)");
    }, 60_000);

    it("says what made the run and what it showed", () => {
      expect(written).toMatchObject({
        format: "cocomem-replay",
        version: 1,
        target: SHARE,
        platform: "pkvm",
        policy: "naive",
        shrunk: true,
        finding: { key: LEAK, monitor: "confidentiality", responsible: "guest" },
        outcome: "violation",
      });
      expect(written.hostActions).toBeLessThanOrEqual(20);
    });

    it("reproduces the run with the same log bytes", async () => {
      const verdict = await replay(written);
      expect(verdict.kind).toBe("reproduced");
      expect(logDigest(verdict.log)).toEqual(written.log);
    });

    it("stops at the first choice that no longer fits, and says which", async () => {
      const hostChoices = written.tape.map((c, i) => [c, i] as const).filter(([c]) => c.stream === "host");
      const [choice, at] = hostChoices[3]!;
      const tape = written.tape.map((c, i) => (i === at ? { ...c, n: c.n + 1 } : c));
      const verdict = await replay({ ...written, tape });
      expect(verdict.kind).toBe("diverged");
      expect(verdict.kind === "diverged" && verdict.where).toContain(`host choice 3 ("${choice.label}")`);
    });

    it("refuses a scenario that changed since", async () => {
      await expect(replay({ ...written, scenarioHash: "0".repeat(64) })).rejects.toThrow(/changed since/);
    });
  });
});

describe("what the explorer found in the model, fixed", () => {
  it("a shared page reclaimed at teardown still blames the guest that shared its secret", async () => {
    const scenario = findBuiltIn("pkvm/explore-share")!;
    const run = await runScenario(scenario, {
      guestPolicy: "naive",
      adversary: {
        name: "read-after-teardown",
        description: "reads every frame it donated once the VM is gone",
        wrap: {
          onReceive(env, ctx) {
            if (env.kind === "response" && env.msg.type === "__pkvm_finalize_teardown_vm")
              ctx.request("hw", { type: "host.access", op: "read", hpa: 0x100000000 }, undefined, "host/vmm");
            return "keep";
          },
        },
      },
    });
    expect(run.result.violations.map((v) => [v.invariant, v.responsible])).toEqual([
      ["no guest secret reaches the host", "guest"],
    ]);
  });

  it("a host that goes quiet having withheld its own request stalls (the host's doing), not a deadlock", async () => {
    const run = await runScenario(findBuiltIn("pkvm/explore-secret")!, {
      adversary: {
        name: "never-destroy",
        description: "the VMM never sends KVM_DESTROY_VM",
        wrap: {
          onSend: (out) => (out.kind === "request" && out.msg.type === "KVM_DESTROY_VM" ? "drop" : "keep"),
        },
      },
    });
    expect(run.result.outcome).toBe("stalled");
    expect(run.result.reason).toContain("the host withheld service");
  });

  it("a host that leaves only its own request waiting (an entry into a halted vCPU) stalls, not a deadlock", async () => {
    let entered = false;
    const run = await runScenario(findBuiltIn("tdx/explore-secret")!, {
      adversary: {
        name: "enter-halted",
        description: "keeps the VM alive and enters the halted vCPU once more",
        wrap: {
          onSend: (out) => (out.kind === "request" && out.msg.type === "KVM_DESTROY_VM" ? "drop" : "keep"),
          onReceive(env, ctx) {
            const exit = (env.msg as { exit?: { reason?: string } }).exit;
            if (!entered && env.kind === "response" && exit?.reason === "HLT") {
              entered = true;
              ctx.request("fw", { type: "TDH.VP.ENTER", vcpu: 0 });
            }
            return "keep";
          },
        },
      },
    });
    expect(entered).toBe(true);
    expect(run.result.outcome).toBe("stalled");
    expect(run.result.reason).toBe(
      "quiet with only the host's own requests open (TDH.VP.ENTER->fw) and the VM not torn down: the host withheld service",
    );
  });

  it("KVM_RUN on a vCPU the VMM never created fails with -EBADF instead of hanging teardown", async () => {
    const answers: number[] = [];
    const run = await runScenario(findBuiltIn("tdx/explore-secret")!, {
      adversary: {
        name: "run-missing-vcpu",
        description: "KVM_RUN on vCPU 7 of a one-vCPU TD",
        wrap: {
          tick(ctx) {
            if (ctx.step === 3)
              ctx.request("host/kvm", { type: "KVM_RUN", vcpu: 7 }, (r) => answers.push(r.ret), "host/vmm");
          },
        },
      },
    });
    expect(answers).toEqual([-9]);
    expect(run.result.outcome).toBe("completed");
  });
});

// The mix is recorded in replay files: the full one must stay what a file without a mix means.
it("the full mix enables everything", () => {
  expect(FULL_MIX).toEqual({ inject: "all", send: ["withhold", "delay", "alter"], build: true });
});
