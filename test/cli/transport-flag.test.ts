// `cocomem run --transport` and `--answer-timeout`: the process transport from the CLI (one
// scenario and --all), the hang bound from the CLI, and bad values refused.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cli, expectUsageError } from "./capture.ts";

const dir = join(import.meta.dirname, ".tmp-transport-flag");
mkdirSync(dir, { recursive: true });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("cocomem run --transport", () => {
  it("should run a scenario with each party in its own process and say it went as expected", async () => {
    const result = await cli("run", "pkvm/share-leftover-secret", "--transport", "process", "--json");
    expect(result.code).toBe(0);
    const report = JSON.parse(result.out);
    expect(report.transport).toBe("process");
    expect(report.result.outcome).toBe("violation");
    expect(report.unmet).toEqual([]);
  }, 60_000);

  it("should run every built-in scenario in processes under --all, each as expected", async () => {
    const result = await cli("run", "--all", "--transport", "process", "--json");
    expect(result.code).toBe(0);
    const reports = JSON.parse(result.out) as { transport: string; unmet: string[] }[];
    expect(reports.length).toBeGreaterThanOrEqual(21);
    expect(new Set(reports.map((r) => r.transport))).toEqual(new Set(["process"]));
    expect(reports.flatMap((r) => r.unmet)).toEqual([]);
  }, 240_000);

  it("should never run a host plug-in's code in the orchestrator's process", async () => {
    const pids = join(dir, "spy.pids");
    const file = join(dir, "spy.ts");
    writeFileSync(
      file,
      `import { appendFileSync } from "node:fs";
import { defineAdversary } from "cocomem/plugins";
appendFileSync(${JSON.stringify(pids)}, \`\${process.pid}\\n\`);
export default defineAdversary({ name: "spy", description: "notes where it runs", wrap: {} });
`,
    );
    const result = await cli("run", "tdx/punch-hole", "--transport", "process", "--host", file, "--json");
    expect(result.code).toBe(0);
    const ranIn = readFileSync(pids, "utf8").trim().split("\n").map(Number);
    // Once in the child that checks it, once in the host's process; never here.
    expect(ranIn).toHaveLength(2);
    expect(ranIn).not.toContain(process.pid);
  }, 60_000);

  it("should refuse a missing or malformed plug-in under the process transport as a usage error", async () => {
    const missing = expectUsageError(
      await cli("run", "tdx/punch-hole", "--transport", "process", "--host", join(dir, "nope.ts")),
    );
    expect(missing).toMatch(/^no such host plug-in: .*nope\.ts$/);
    const file = join(dir, "not-an-adversary.ts");
    writeFileSync(file, "export default { hello: 1 };\n");
    const malformed = expectUsageError(
      await cli("run", "tdx/punch-hole", "--transport", "process", "--host", file),
    );
    expect(malformed).toMatch(/the default export must be defineAdversary/);
  }, 60_000);

  it("should refuse an unknown transport as a usage error, for run and for matrix", async () => {
    for (const argv of [["run", "tdx/punch-hole"], ["matrix"]]) {
      const message = expectUsageError(await cli(...argv, "--transport", "carrier-pigeon"));
      expect(message).toMatch(/--transport <transport>' argument 'carrier-pigeon' is invalid/);
    }
  });
});

describe("cocomem run --answer-timeout", () => {
  it("should end the run as host-hung after the given time when a plug-in host stops answering", async () => {
    const file = join(dir, "stalls.ts");
    writeFileSync(
      file,
      `import { defineAdversary } from "cocomem/plugins";
// A host whose VMM asks its own kernel for something, and whose kernel then never answers.
export default defineAdversary({
  name: "stalls",
  description: "never finishes handling its first delivery",
  replace: () => ({
    name: "host",
    start: () => ({
      out: [{ from: "host/vmm", to: "host/kvm", kind: "request", msg: { type: "KVM_TDX_FINALIZE_VM" }, ref: 1 }],
      effects: [],
    }),
    deliver: () => new Promise(() => {}),
  }),
});
`,
    );
    const result = await cli("run", "tdx/punch-hole", "--host", file, "--answer-timeout", "150", "--json");
    const report = JSON.parse(result.out);
    expect(report.result.outcome).toBe("host-hung");
    expect(report.result.reason).toMatch(/^host hung: no answer to delivery \d+ within 150 ms$/);
  });

  for (const bad of ["0", "-5", "1.5", "soon", "600001"]) {
    it(`should refuse --answer-timeout ${bad} as a usage error`, async () => {
      const message = expectUsageError(await cli("run", "tdx/punch-hole", "--answer-timeout", bad));
      expect(message).toMatch(/a duration is a whole number of milliseconds from 1 to 600000/);
    });
  }
});
