// The README's worked example must run as written and say what the README says it says.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ScenarioSpec } from "../protocol/scenario.ts";
import { runScenario } from "../src/run/run.ts";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
const example = JSON.parse(/```json\n([\s\S]*?)```/.exec(readme)![1]!);

describe("the README worked example", () => {
  it("should complete with no violation as written", async () => {
    const run = await runScenario({ spec: ScenarioSpec.parse(example) });
    expect(run.result.outcome).toBe("completed");
    expect(run.unmet).toEqual([]);
  });

  it("should report the leak, guest responsible, once the secret is written after converting", async () => {
    const steps = example.guest.workload[0];
    const reordered = {
      ...example,
      guest: { ...example.guest, workload: [[steps[0], steps[2], steps[1], ...steps.slice(3)]] },
    };
    const run = await runScenario({ spec: ScenarioSpec.parse(reordered) });
    expect(run.result.outcome).toBe("violation");
    expect(run.result.violations.map((v) => [v.invariant, v.responsible])).toEqual([
      ["no guest secret reaches the host", "guest"],
    ]);
  });
});
