// `cocomem run --transport`: the process transport from the CLI, and a bad value refused.
import { describe, expect, it } from "vitest";
import { cli, expectUsageError } from "./capture.ts";

describe("cocomem run --transport", () => {
  it("should run a scenario with each party in its own process and say it went as expected", async () => {
    const result = await cli("run", "pkvm/share-unshare-naive", "--transport", "process", "--json");
    expect(result.code).toBe(0);
    const report = JSON.parse(result.out);
    expect(report.result.outcome).toBe("violation");
    expect(report.unmet).toEqual([]);
  }, 60_000);

  it("should refuse an unknown transport as a usage error", async () => {
    const message = expectUsageError(await cli("run", "tdx/punch-hole", "--transport", "carrier-pigeon"));
    expect(message).toMatch(/--transport <transport>' argument 'carrier-pigeon' is invalid/);
  });
});
