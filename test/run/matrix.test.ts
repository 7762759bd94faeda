// The attack matrix: every attack x platform x guest policy ends as the corpus predicts.
import { describe, expect, it } from "vitest";
import { ATTACKS } from "../../src/adversaries/corpus/catalogue.ts";
import { PLATFORMS, POLICIES, runAttack } from "../../src/run/matrix.ts";
import { cli } from "../cli/capture.ts";

describe("the attack matrix", () => {
  for (const attack of ATTACKS) {
    for (const platform of PLATFORMS) {
      for (const policy of POLICIES) {
        const expected = attack.expected[platform][policy];
        it(`should end ${attack.id} on ${platform} with the ${policy} guest as ${expected}`, async () => {
          const cell = await runAttack(attack, platform, policy);
          expect(cell.got, cell.reason).toBe(expected);
        });
      }
    }
  }

  it("should hold the issue's minimum cells under another seed too", async () => {
    const a3 = ATTACKS.find((a) => a.id === "A3")!;
    const a5 = ATTACKS.find((a) => a.id === "A5")!;
    expect((await runAttack(a3, "tdx", "naive", 99)).got).toBe("violation (guest)");
    expect(["detected", "DoS"]).toContain((await runAttack(a3, "tdx", "linux", 99)).got);
    expect((await runAttack(a5, "pkvm", "naive", 99)).got).toBe("violation (guest)");
    expect((await runAttack(a5, "pkvm", "linux", 99)).got).toBe("blocked");
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
    expect(result.out).toMatch(/^A3\s+double accept.*detected\s+violation \(guest\)\s+blocked\s+blocked/m);
    expect(result.out).toContain(`${ATTACKS.length * 4} cells: ${ATTACKS.length * 4} as predicted, 0 not`);
  });
});
