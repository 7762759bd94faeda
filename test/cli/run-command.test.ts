import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseLog } from "../../src/log/read.ts";
import { BUILT_IN } from "../../src/scenarios/index.ts";
import { cli, expectUsageError } from "./capture.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cocomem-cli-run-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A valid scenario file: accept 2M, write and read a page, expect completed. */
const FILE_SCENARIO = {
  name: "test/json-file",
  description: "accept 2M, write a page and read it back",
  platform: "tdx",
  guest: {
    memory: "8M",
    workload: [
      [
        { op: "accept", gpa: "2M", size: "2M" },
        { op: "write", gpa: "2M", tag: "from-file", secret: true },
        { op: "read", gpa: "2M" },
      ],
    ],
  },
  expect: { outcome: "completed" },
};

async function scenarioFile(name: string, content: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, content);
  return file;
}

describe("cocomem run", () => {
  it("should print the verdict of tdx/punch-hole and exit 0 as expected", async () => {
    const result = await cli("run", "tdx/punch-hole");
    expect(result.err).toBe("");
    expect(result.code).toBe(0);
    expect(result.out).toContain("outcome   vm-killed-by-host");
    expect(result.out).toContain(
      "scenario  tdx/punch-hole   seed 1   profile tdx-1.5+linux-7.0   guest policy linux",
    );
    expect(result.out.trimEnd().split("\n").at(-1)).toBe("as expected");
    expect(result.out).not.toContain("violations (");
  });

  it("should name the expected violation of the naive punch-hole run and still exit 0", async () => {
    const result = await cli("run", "tdx/punch-hole-naive-no-sept-ve-disable");
    expect(result.err).toBe("");
    expect(result.code).toBe(0);
    expect(result.out).toContain("outcome   violation");
    expect(result.out).toContain("violations (1):");
    expect(result.out).toMatch(
      /^ {2}\[integrity\] no silent zero page: guest responsible gpa 0x400000: .*\(seq \d+, \d+\)$/m,
    );
    expect(result.out).toContain("as expected");
    expect(result.out).not.toContain("reproduce:");
  });

  it("should exit 1 with a reproduce line when the guest policy has no expectation", async () => {
    const result = await cli("run", "tdx/teardown", "--guest-policy", "naive");
    expect(result.err).toBe("");
    expect(result.code).toBe(1);
    expect(result.out).toContain("guest policy naive");
    expect(result.out).toContain("NOT as expected:\n  - no expectation for guest policy naive\n");
    expect(result.out).toContain(
      "reproduce: cocomem run tdx/teardown --seed 1 --guest-policy naive --log run.jsonl\n",
    );
    expect(result.out).not.toMatch(/^as expected$/m);
  });

  it("should print the report as JSON with --json", async () => {
    const result = await cli("run", "tdx/punch-hole", "--json", "--seed", "3");
    expect(result.code).toBe(0);
    const report = JSON.parse(result.out);
    expect(report).toMatchObject({
      scenario: "tdx/punch-hole",
      seed: 3,
      policy: "linux",
      unmet: [],
      result: { outcome: "vm-killed-by-host", violations: [] },
    });
    expect(typeof report.result.steps).toBe("number");
    // The in-memory log is not part of the report.
    expect(report).not.toHaveProperty("log");
  });

  it("should run every built-in with --all --json, all as expected", async () => {
    const result = await cli("run", "--all", "--json");
    expect(result.err).toBe("");
    expect(result.code).toBe(0);
    const reports = JSON.parse(result.out) as { scenario: string; unmet: string[]; log?: unknown }[];
    expect(Array.isArray(reports)).toBe(true);
    expect(reports).toHaveLength(BUILT_IN.length);
    expect(reports.map((r) => r.scenario)).toEqual(BUILT_IN.map((s) => s.spec.name));
    for (const report of reports) {
      expect(report.unmet, report.scenario).toEqual([]);
      expect(report).not.toHaveProperty("log");
    }
  });

  it("should run a valid JSON scenario file and write its log with --log", async () => {
    const file = await scenarioFile("ok.json", JSON.stringify(FILE_SCENARIO));
    const logFile = join(dir, "ok.jsonl");
    const result = await cli("run", file, "--seed", "7", "--log", logFile);
    expect(result.err).toBe("");
    expect(result.code).toBe(0);
    expect(result.out).toContain(
      "scenario  test/json-file   seed 7   profile tdx-1.5+linux-7.0   guest policy linux",
    );
    expect(result.out).toContain("outcome   completed");
    expect(result.out).toContain("as expected");

    const text = await readFile(logFile, "utf8");
    expect(text.endsWith("\n")).toBe(true);
    const rows = text.slice(0, -1).split("\n");
    expect(rows.length).toBeGreaterThan(2);
    const lines = rows.map((row) => JSON.parse(row) as { type: string; [key: string]: unknown });
    expect(lines[0]).toMatchObject({ type: "header", scenario: "test/json-file", seed: 7, platform: "tdx" });
    expect(lines.at(-1)).toMatchObject({ type: "verdict", outcome: "completed", violations: 0 });
    expect(lines.filter((l) => l.type === "header")).toHaveLength(1);
    expect(lines.filter((l) => l.type === "verdict")).toHaveLength(1);
    // Every line is a valid log line, not just JSON.
    const parsed = parseLog(text, logFile);
    expect(parsed.ok ? parsed.lines.length : parsed.message).toBe(rows.length);
  });

  it("should run a JSON scenario file whose expectation fails with exit 1", async () => {
    const file = await scenarioFile(
      "wrong-expectation.json",
      JSON.stringify({ ...FILE_SCENARIO, expect: { outcome: "guest-terminated" } }),
    );
    const result = await cli("run", file);
    expect(result.code).toBe(1);
    expect(result.out).toContain("  - outcome completed (");
    expect(result.out).toContain(`reproduce: cocomem run ${file} --seed 1 --log run.jsonl`);
  });

  it("should print the help text with --help and exit 0", async () => {
    const result = await cli("run", "--help");
    expect(result.code).toBe(0);
    expect(result.err).toBe("");
    expect(result.out).toContain("Usage: cocomem run [options] [scenario]");
    for (const flag of ["--all", "--seed <n>", "--guest-policy <policy>", "--log <file>", "--json"])
      expect(result.out).toContain(flag);
  });

  // An unwritable --log path is bad input, not an internal error: it must not look like a violation.
  it("should refuse an unwritable --log path as an input error (exit 2)", async () => {
    const file = await scenarioFile("ok-for-log.json", JSON.stringify(FILE_SCENARIO));
    const result = await cli("run", file, "--log", join(dir, "no-such-dir", "run.jsonl"));
    const message = expectUsageError(result);
    expect(message).not.toMatch(/^internal error/);
  });
});
