import { describe, expect, it } from "vitest";
import { runScenario } from "../src/run/run.ts";
import { defineScenario } from "../src/scenarios/define.ts";

const scenario = defineScenario({
  name: "tdx/smoke",
  description: "accept 2M on a 4K host, write, read back",
  platform: "tdx",
  guest: {
    memory: "4M",
    workload: [
      [
        { op: "accept", gpa: "2M", size: "2M", level: "2M" },
        { op: "write", gpa: "2M", tag: "s1", secret: true },
        { op: "read", gpa: "2M" },
      ],
    ],
  },
  expect: { outcome: "completed" },
});

describe("a TDX run end to end", () => {
  it("should complete with no violation and fall back to 512 4K accepts", async () => {
    const run = await runScenario(scenario);
    expect(run.result.outcome).toBe("completed");
    expect(run.result.violations).toEqual([]);
    expect(run.result.stats["TDH.MEM.PAGE.AUG"]).toBe(512);
    expect(run.result.stats["TDG.MEM.PAGE.ACCEPT"]).toBe(513);
  });
});
