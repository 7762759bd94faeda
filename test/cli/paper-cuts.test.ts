// Small things a user runs into: where --log may not go (exit 2 up front, never over an input),
// --version, `help <command>`, and where a plug-in's syntax error is.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { cli, expectUsageError } from "./capture.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const dir = join(import.meta.dirname, ".tmp-paper-cuts");
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SCENARIO = JSON.stringify({
  name: "test/short",
  description: "",
  platform: "tdx",
  guest: { memory: "8M", workload: [[{ op: "accept", gpa: "2M", size: "2M" }]] },
  expect: { outcome: "completed" },
});

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function cocomem(...args: string[]) {
  return spawnSync(process.execPath, ["bin/cocomem.mjs", ...args], { cwd: ROOT, encoding: "utf8" });
}

describe("cocomem run --log", () => {
  it("should refuse a directory, with exit 2 and one line", async () => {
    const message = expectUsageError(await cli("run", "tdx/punch-hole", "--log", dir));
    expect(message).toBe(`cannot write the log to ${dir}: it is a directory`);
  });

  it("should refuse a path whose directory does not exist, or is a file", async () => {
    const missing = join(dir, "no", "run.jsonl");
    expect(expectUsageError(await cli("run", "tdx/punch-hole", "--log", missing))).toBe(
      `cannot write the log to ${missing}: no such directory: ${join(dir, "no")}`,
    );
    const underFile = join(file("plain.txt", "x"), "run.jsonl");
    expect(expectUsageError(await cli("run", "tdx/punch-hole", "--log", underFile))).toBe(
      `cannot write the log to ${underFile}: a part of its path is not a directory`,
    );
  });

  // Root may write anywhere: only another user can be refused.
  it.skipIf(process.getuid?.() === 0)("should refuse a file it may not write", async () => {
    const readOnly = file("read-only.jsonl", "");
    chmodSync(readOnly, 0o444);
    expect(expectUsageError(await cli("run", "tdx/punch-hole", "--log", readOnly))).toBe(
      `cannot write the log to ${readOnly}: permission denied`,
    );
  });

  it("should never overwrite the scenario file, by its own path or a symlink to it", async () => {
    const scenario = file("short.json", SCENARIO);
    const link = join(dir, "link.jsonl");
    symlinkSync(scenario, link);
    for (const log of [scenario, link]) {
      const message = expectUsageError(await cli("run", scenario, "--log", log));
      expect(message).toBe(
        `cannot write the log to ${log}: it is ${scenario}, an input of this run: a log never overwrites one`,
      );
    }
    expect(readFileSync(scenario, "utf8")).toBe(SCENARIO);
  });

  it("should never overwrite the --host plug-in file", async () => {
    const source = 'export default { name: "x", description: "", replace: () => ({}) };\n';
    const plugin = file("host.mjs", source);
    const message = expectUsageError(await cli("run", "tdx/punch-hole", "--host", plugin, "--log", plugin));
    expect(message).toContain("an input of this run");
    expect(readFileSync(plugin, "utf8")).toBe(source);
  });

  it("should still write a log next to its inputs", async () => {
    const scenario = file("ok.json", SCENARIO);
    const log = join(dir, "ok.jsonl");
    const result = await cli("run", scenario, "--log", log);
    expect(result.err).toBe("");
    expect(result.code).toBe(0);
    expect(readFileSync(log, "utf8")).toContain('"type":"verdict"');
  });
});

describe("cocomem --version and help <command>", () => {
  const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  for (const flag of ["--version", "-V", "version"]) {
    it(`should print the version for ${flag}`, async () => {
      expect(await cli(flag)).toEqual({ code: 0, out: `cocomem ${version}\n`, err: "" });
    });
  }

  it("should print a command's own help for `help <command>`, as `<command> --help` does", async () => {
    for (const name of ["run", "log", "matrix"]) {
      const help = await cli("help", name);
      expect(help).toEqual(await cli(name, "--help"));
      expect(help.out).toContain(`Usage: cocomem ${name} `);
    }
  });

  it("should refuse help for an unknown command", async () => {
    expect(expectUsageError(await cli("help", "nope"))).toMatch(/^no help for "nope"/);
  });
});

describe("a .ts host plug-in with a syntax error", () => {
  const plugin = file(
    "broken-host.ts",
    'export default {\n  name: "broken",\n  description: "a comma too many" +,\n};\n',
  );
  for (const transport of ["inproc", "process"]) {
    it(`should be reported at its file, line and column (${transport})`, () => {
      const result = cocomem("run", "tdx/punch-hole", "--host", plugin, "--transport", transport);
      expect(result.status).toBe(2);
      expect(result.stdout).toBe("");
      expect(result.stderr).toBe(
        `cocomem: ${plugin}: could not be loaded (${plugin}:3:36: Unexpected ",")\n`,
      );
    }, 60_000);
  }
});

describe("a .ts scenario file with a syntax error", () => {
  const scenario = file(
    "broken-scenario.ts",
    'export default {\n  name: "test/broken",\n  description: "a comma too many" +,\n};\n',
  );
  it("should be reported at its file, line and column, like a plug-in", () => {
    const result = cocomem("run", scenario);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(
      `cocomem: ${scenario}: could not be loaded (${scenario}:3:36: Unexpected ",")\n`,
    );
  }, 60_000);
});
