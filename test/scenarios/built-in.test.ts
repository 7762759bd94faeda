// Every built-in scenario, run as `npm start` runs it: the outcome it expects and its own checks.
import { describe, expect, it } from "vitest";
import { runScenario } from "../../src/run/run.ts";
import { BUILT_IN } from "../../src/scenarios/index.ts";

describe("built-in scenarios", () => {
  for (const scenario of BUILT_IN) {
    it(`should end ${scenario.spec.name} as expected (${scenario.spec.expect.outcome})`, async () => {
      const run = await runScenario(scenario);
      expect(run.unmet).toEqual([]);
      expect(run.result.outcome).toBe(scenario.spec.expect.outcome);
      const invariants = new Set(run.result.violations.map((v) => v.invariant));
      expect([...invariants].sort()).toEqual([...new Set(scenario.spec.expect.violations)].sort());
    });
  }

  it("should hold for other seeds too", async () => {
    for (const scenario of BUILT_IN.filter((s) => !s.spec.name.startsWith("tdx/lazy-accept"))) {
      for (const seed of [7, 1234]) {
        const run = await runScenario(scenario, { seed, keepLog: scenario.check !== undefined });
        expect(run.unmet, `${scenario.spec.name} seed ${seed}`).toEqual([]);
      }
    }
  });
});

describe("guest policy overrides", () => {
  it("should let the Linux guest refuse a TD built without SEPT_VE_DISABLE", async () => {
    const scenario = BUILT_IN.find((s) => s.spec.name === "tdx/punch-hole-naive-no-sept-ve-disable")!;
    const run = await runScenario(scenario, { guestPolicy: "linux" });
    expect(run.result.outcome).toBe("guest-terminated");
    expect(run.result.reason).toBe("TD misconfiguration: SEPT #VE has to be disabled");
    expect(run.unmet).toEqual([]);
  });

  it("should report a missing expectation when a policy has none", async () => {
    const scenario = BUILT_IN.find((s) => s.spec.name === "tdx/teardown")!;
    const run = await runScenario(scenario, { guestPolicy: "naive" });
    expect(run.unmet).toEqual(["no expectation for guest policy naive"]);
  });
});
