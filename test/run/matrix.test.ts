// The attack matrix: every attack x platform x guest policy ends as the corpus predicts, every
// attack that applies actually fired, and each violation is the one the right monitor reports.
import { describe, expect, it } from "vitest";
import { ATTACKS } from "../../src/adversaries/corpus/catalogue.ts";
import { attackScenario, PLATFORMS, POLICIES, runAttack } from "../../src/run/matrix.ts";
import { runScenario } from "../../src/run/run.ts";
import { cli } from "../cli/capture.ts";

/** Which monitor must report each violation cell, and for which invariant (from the monitors' contracts). */
const VIOLATIONS: Record<string, [string, string]> = {
  "A3 tdx naive": ["integrity", "no silent zero page"],
  "A4 pkvm linux": ["integrity", "guest reads what it wrote"],
  "A4 pkvm naive": ["integrity", "guest reads what it wrote"],
  "A5 pkvm linux": ["confidentiality", "no guest secret reaches the host"],
  "A5 pkvm naive": ["confidentiality", "no guest secret reaches the host"],
  "A11 pkvm linux": [
    "sanitisation",
    "a guest-owned page is zeroed by the hypervisor before the host gets it back",
  ],
  "A11 pkvm naive": [
    "sanitisation",
    "a guest-owned page is zeroed by the hypervisor before the host gets it back",
  ],
  "A12 tdx naive": ["integrity", "the guest uses what it checked"],
  "A12 pkvm naive": ["integrity", "the guest uses what it checked"],
};

describe("the attack matrix", () => {
  for (const attack of ATTACKS) {
    for (const platform of PLATFORMS) {
      for (const policy of POLICIES) {
        const expected = attack.expected[platform][policy];
        it(`should end ${attack.id} on ${platform} with the ${policy} guest as ${expected}`, async () => {
          const cell = await runAttack(attack, platform, policy);
          expect(cell.got, cell.reason).not.toBe("did not fire");
          expect(cell.got, cell.reason).toBe(expected);
          const monitor = VIOLATIONS[`${attack.id} ${platform} ${policy}`];
          expect(cell.monitor ? [cell.monitor.name, cell.monitor.invariant] : undefined).toEqual(monitor);
        });
      }
    }
  }

  for (const attack of ATTACKS) {
    for (const platform of PLATFORMS) {
      const firing = attack.fires[platform];
      if (firing === "n/a") continue;
      it(`should not count ${attack.id} on ${platform} as fired when an honest host runs its workload`, async () => {
        const honest = await runScenario(attackScenario(attack, platform, "naive"));
        expect(firing.check(honest.log), firing.says).toBe(false);
      });
    }
  }

  it("should hold the issue's minimum cells under another seed too", async () => {
    const a3 = ATTACKS.find((a) => a.id === "A3")!;
    const a5 = ATTACKS.find((a) => a.id === "A5")!;
    expect((await runAttack(a3, "tdx", "naive", 99)).got).toBe("violation (guest)");
    expect((await runAttack(a3, "tdx", "linux", 99)).got).toBe("DoS");
    expect((await runAttack(a5, "pkvm", "naive", 99)).got).toBe("violation (guest)");
    expect((await runAttack(a5, "pkvm", "linux", 99)).got).toBe("violation (guest)");
    for (const id of ["A1", "A2"]) {
      const attack = ATTACKS.find((a) => a.id === id)!;
      for (const platform of PLATFORMS)
        for (const policy of POLICIES) {
          expect((await runAttack(attack, platform, policy, 99)).got).toBe("blocked");
        }
    }
  });

  it("should print the table and exit 0 from the CLI", async () => {
    const result = await cli("matrix");
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^A3\s+double accept.*DoS\s+violation \(guest\)\s+blocked\s+blocked/m);
    expect(result.out).toContain(`${ATTACKS.length * 4} cells: ${ATTACKS.length * 4} as predicted, 0 not`);
  });
});
