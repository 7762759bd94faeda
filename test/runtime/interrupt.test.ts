// Ending a run early through an abort signal (what Ctrl-C does in the CLI): the run stops between
// deliveries with an `interrupted` verdict and a complete log, in one process or in three.
import { describe, expect, it } from "vitest";
import { LogLine } from "../../protocol/log.ts";
import { runScenario } from "../../src/run/run.ts";
import { defineScenario } from "../../src/scenarios/define.ts";
import { processTransport } from "../../src/transport/index.ts";

const long = defineScenario({
  name: "test/accept-8m",
  description: "a 1 GiB guest accepts 8 MiB at 4K (~33k messages)",
  platform: "tdx",
  guest: { memory: "1G", workload: [[{ op: "accept", gpa: 0, size: "8M", level: "4K" }]] },
  expect: { outcome: "completed" },
});

function expectWellFormed(log: LogLine[]): void {
  for (const line of log) expect(LogLine.safeParse(line).success).toBe(true);
  expect(log.at(-1)).toMatchObject({ type: "verdict", outcome: "error" });
}

describe("interrupting a run", () => {
  it("should stop an in-process run at its first yield, after 511 deliveries, with a verdict", async () => {
    const controller = new AbortController();
    const running = runScenario(long, { signal: controller.signal });
    // Nothing in an in-process run waits on the event loop until it yields, every 512 deliveries.
    setImmediate(() => controller.abort("test"));
    const run = await running;
    expect(run.result.outcome).toBe("error");
    expect(run.result.reason).toBe("interrupted (test) after 511 deliveries");
    expect(run.result.steps).toBe(511);
    expectWellFormed(run.log);
  });

  it("should not start delivering at all when the signal is already aborted", async () => {
    const run = await runScenario(long, { signal: AbortSignal.abort("early") });
    expect(run.result.reason).toBe("interrupted (early) after 0 deliveries");
  });

  it("should stop a run in three processes between deliveries, with a verdict", async () => {
    const controller = new AbortController();
    const running = runScenario(long, { transport: processTransport, signal: controller.signal });
    setTimeout(() => controller.abort("test"), 1500);
    const run = await running;
    expect(run.result.reason).toMatch(/^interrupted \(test\) after \d+ deliveries$/);
    expect(run.result.steps).toBeLessThan(30_000);
    expectWellFormed(run.log);
  }, 60_000);
});
