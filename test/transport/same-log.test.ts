// Same run, any transport: every built-in scenario writes the same log (header aside) with each
// party in its own process as it does in one process.
import { describe, expect, it } from "vitest";
import type { LogLine } from "../../protocol/log.ts";
import { runScenario } from "../../src/run/run.ts";
import { inprocTransport } from "../../src/run/transport.ts";
import { BUILT_IN, findBuiltIn } from "../../src/scenarios/index.ts";
import { processTransport } from "../../src/transport/index.ts";

const body = (log: LogLine[]) =>
  log
    .filter((line) => line.type !== "header")
    .map((line) => JSON.stringify(line))
    .join("\n");

describe("the process transport", () => {
  for (const scenario of BUILT_IN) {
    it(`should write the same log as inproc for ${scenario.spec.name}`, async () => {
      const inproc = await runScenario(scenario, { transport: inprocTransport });
      const processes = await runScenario(scenario, { transport: processTransport });
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
        const inproc = await runScenario(scenario, { seed, transport: inprocTransport });
        const processes = await runScenario(scenario, { seed, transport: processTransport });
        expect(body(processes.log)).toBe(body(inproc.log));
      }, 240_000);
    }
  }
});

describe("64-bit values across the process boundary", () => {
  it("should carry a status above 2^53 exactly (TDX_PAGE_SIZE_MISMATCH with operand RCX)", async () => {
    const run = await runScenario(findBuiltIn("tdx/accept-2m-on-4k-mapping")!, {
      transport: processTransport,
    });
    const statuses = run.log.flatMap((line) =>
      line.type === "msg" && line.kind === "response" && "status" in line.msg ? [line.msg.status] : [],
    );
    // 0xc0000b0b00000001 as a double would be 0xc0000b0b00000000: the low bit would be lost.
    expect(statuses).toContain("0xc0000b0b00000001");
    expect(BigInt("0xc0000b0b00000001")).toBeGreaterThan(BigInt(Number.MAX_SAFE_INTEGER));
  }, 60_000);
});
