// Same run, any transport: every built-in scenario writes the same log (header aside) with each
// party in its own process as it does in one process.
import { describe, expect, it } from "vitest";
import type { LogLine } from "../../src/log/format.ts";
import { runScenario } from "../../src/run.ts";
import { BUILT_IN, findBuiltIn } from "../../src/scenarios/index.ts";

const body = (log: LogLine[]) =>
  log
    .filter((line) => line.type !== "header")
    .map((line) => JSON.stringify(line))
    .join("\n");

describe("the process transport", () => {
  for (const scenario of BUILT_IN) {
    it(`should write the same log as inproc for ${scenario.spec.name}`, async () => {
      const inproc = await runScenario(scenario, { transport: "inproc" });
      const processes = await runScenario(scenario, { transport: "process" });
      expect(processes.log[0]).toMatchObject({ type: "header", transport: "process" });
      expect(processes.result.outcome).toBe(inproc.result.outcome);
      expect(body(processes.log)).toBe(body(inproc.log));
    }, 240_000);
  }
});

describe("the process transport under other seeds", () => {
  // Scenarios where the seed changes the interleaving most: two vCPUs, conversions, a pKVM share.
  for (const name of ["tdx/two-vcpus-convert", "tdx/convert-roundtrips", "pkvm/share-unshare"]) {
    for (const seed of [2, 7]) {
      it(`should write the same log as inproc for ${name} with seed ${seed}`, async () => {
        const scenario = findBuiltIn(name)!;
        const inproc = await runScenario(scenario, { seed, transport: "inproc" });
        const processes = await runScenario(scenario, { seed, transport: "process" });
        expect(body(processes.log)).toBe(body(inproc.log));
      }, 240_000);
    }
  }
});
