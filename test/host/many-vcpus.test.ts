// The honest host under many vCPUs (issue 11): 0.4.0 and 0.6.0 blocked a GPA twice, TRACKed while
// another zap's epoch still ran (TDX_PREVIOUS_TLB_EPOCH_BUSY), AUGed a page a hole punch had freed
// (two invalidations overlapping), linked one S-EPT page from two faults, and on pKVM donated one
// page twice (two vCPUs faulting on one IPA). Each of those made the honest host bug the VM or
// kill it, and the verdict blamed it. Here: the workload that found them, and the built-ins.
import { describe, expect, it } from "vitest";
import type { GuestStepInput } from "../../protocol/scenario.ts";
import { runScenario } from "../../src/run/run.ts";
import { defineScenario } from "../../src/scenarios/define.ts";
import { findBuiltIn } from "../../src/scenarios/index.ts";

const M = 0x100000;

/** 16 vCPUs each accept [0, 8M) (TDX), write a secret and convert [i*1M, +2M) to shared and back. */
function issueWorkload(platform: "tdx" | "pkvm") {
  const workload: GuestStepInput[][] = Array.from({ length: 16 }, (_, i) => [
    ...(platform === "tdx" ? [{ op: "accept", gpa: 0, size: "8M", level: "4K" } as const] : []),
    { op: "write", gpa: i * 0x1000, tag: `v${i}`, secret: true },
    { op: "convert", gpa: i * M, size: "2M", to: "shared" },
    { op: "convert", gpa: i * M, size: "2M", to: "private" },
  ]);
  return defineScenario({
    name: `test/sixteen-${platform}`,
    description: "the workload of issue 11",
    platform,
    guest: { memory: "32M", vcpus: 16, workload },
    expect: { outcome: "completed" },
  });
}

/** The honest host never fails: no crash, no hang, no SEAMCALL it bugs the VM over, no blame. */
function expectHostBlameless(run: Awaited<ReturnType<typeof runScenario>>) {
  expect(["host-crashed", "host-hung", "error", "stalled", "step-limit"]).not.toContain(run.result.outcome);
  expect(run.result.reason).not.toMatch(/SEAMCALL .* failed|__pkvm_host_donate_guest/);
  expect(run.result.violations.filter((v) => v.responsible === "host")).toEqual([]);
  const leaks = run.log.filter(
    (l) => l.type === "effect" && l.effect.e === "fault" && l.effect.kind === "leaked",
  );
  expect(leaks).toEqual([]);
}

describe("the honest host under sixteen vCPUs", () => {
  // Seed 1 failed on TDX_PREVIOUS_TLB_EPOCH_BUSY, seed 4 on an AUG of a freed page.
  for (const seed of [1, 4]) {
    it(`should complete the issue's TDX workload, seed ${seed}`, async () => {
      const run = await runScenario(issueWorkload("tdx"), { seed, keepLog: true });
      expectHostBlameless(run);
      expect(run.result.outcome).toBe("completed");
    });
  }

  // Seed 2 failed on a double donation: KVM_RUN -EFAULT and "a poisoned IPA".
  it("should stop the issue's pKVM workload on the guest's own bug, seed 2", async () => {
    const run = await runScenario(issueWorkload("pkvm"), { seed: 2, keepLog: true });
    expectHostBlameless(run);
    expect(run.result.outcome).toBe("guest-terminated");
    expect(run.result.reason).toMatch(
      /^MEM_UNSHARE of 0x[0-9a-f]+ failed: SMCCC_RET_INVALID_PARAMETER \(-3\): EL2 found the page not shared, so the guest's own bookkeeping is wrong/,
    );
  });

  for (const name of [
    "tdx/sixteen-vcpus-convert",
    "tdx/sixteen-vcpus-overlap",
    "pkvm/sixteen-vcpus-convert",
    "pkvm/sixteen-vcpus-overlap",
  ]) {
    it(`should keep the host blameless in ${name} under seeds 2 and 3`, async () => {
      for (const seed of [2, 3]) {
        const run = await runScenario(findBuiltIn(name)!, { seed, keepLog: true });
        expectHostBlameless(run);
        expect(run.result.outcome).toBe(name.endsWith("overlap") ? "guest-terminated" : "completed");
      }
    });
  }

  it("should end the TDX overlap with Linux's panic on a failed lazy accept", async () => {
    const run = await runScenario(findBuiltIn("tdx/sixteen-vcpus-overlap")!, { keepLog: true });
    expect(run.result.reason).toBe("TDX: Failed to accept memory");
  });
});
