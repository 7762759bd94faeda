// Attacks across real process boundaries: corpus attacks built inside the host's process land in
// the same matrix cell, for the same reason, as in one process.
import { describe, expect, it } from "vitest";
import { ATTACKS } from "../../src/adversaries/corpus/catalogue.ts";
import { PLATFORMS, runAttack } from "../../src/run/matrix.ts";
import { runScenario } from "../../src/run/run.ts";
import { inprocTransport } from "../../src/run/transport.ts";
import { findBuiltIn } from "../../src/scenarios/index.ts";
import { processTransport } from "../../src/transport/index.ts";

describe("the attack corpus under the process transport", () => {
  // A snooping host, a stale mapping, a mutant trusted side (A11) and a double-fetch race (A12).
  for (const id of ["A1", "A3", "A11", "A12"]) {
    for (const platform of PLATFORMS) {
      it(`should classify ${id} on ${platform} against the naive guest as in one process`, async () => {
        const attack = ATTACKS.find((a) => a.id === id)!;
        const inproc = await runAttack(attack, platform, "naive", 1, inprocTransport);
        const processes = await runAttack(attack, platform, "naive", 1, processTransport);
        expect(processes).toEqual(inproc);
        expect(processes.got).toBe(attack.expected[platform].naive);
      }, 60_000);
    }
  }

  it("should refuse an attack id the corpus does not have, before logging anything", async () => {
    await expect(
      runScenario(findBuiltIn("tdx/punch-hole")!, { attack: "A99", transport: processTransport }),
    ).rejects.toThrow(/^no attack A99 in the corpus \(A1-A13\)$/);
  });
});
