// One seed reproduces everything: same scenario + seed = the same log, byte for byte.
import { describe, expect, it } from "vitest";
import { runScenario } from "../../src/run/run.ts";
import { findBuiltIn } from "../../src/scenarios/index.ts";

const jsonl = (lines: unknown[]) => lines.map((l) => JSON.stringify(l)).join("\n");

describe("determinism", () => {
  for (const name of ["tdx/two-vcpus-convert", "tdx/convert-roundtrips", "tdx/punch-hole"]) {
    it(`should write the same log twice for ${name} with the same seed`, async () => {
      const scenario = findBuiltIn(name)!;
      const a = await runScenario(scenario, { seed: 42 });
      const b = await runScenario(scenario, { seed: 42 });
      expect(a.log.length).toBeGreaterThan(100);
      expect(jsonl(b.log)).toBe(jsonl(a.log));
    });
  }

  it("should interleave two vCPUs differently under another seed", async () => {
    const scenario = findBuiltIn("tdx/two-vcpus-convert")!;
    const a = await runScenario(scenario, { seed: 1 });
    const b = await runScenario(scenario, { seed: 2 });
    expect(jsonl(b.log)).not.toBe(jsonl(a.log));
    expect(b.result.outcome).toBe(a.result.outcome);
  });

  it("should number every line in order and give every message a unique id", async () => {
    const run = await runScenario(findBuiltIn("tdx/implicit-conversion")!, { seed: 3 });
    const seqs = run.log.flatMap((l) => ("seq" in l ? [l.seq] : []));
    expect(seqs).toEqual(seqs.map((_, i) => i));
    const ids = run.log.flatMap((l) => (l.type === "msg" ? [l.id] : []));
    expect(new Set(ids).size).toBe(ids.length);
  });
});
