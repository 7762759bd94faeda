import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, expectUsageError } from "./capture.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cocomem-cli-errors-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const VALID = {
  name: "test/shape",
  description: "",
  platform: "tdx",
  guest: { memory: "8M", workload: [[{ op: "accept", gpa: "2M", size: "2M" }]] },
  expect: { outcome: "completed" },
};

async function file(name: string, content: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

describe("cocomem usage errors", () => {
  it("should refuse an unknown command", async () => {
    const message = expectUsageError(await cli("frobnicate"));
    expect(message).toBe(
      'unknown command "frobnicate" (commands: run, list, log, diff, describe, compare, matrix, explore, replay, schema, view)',
    );
  });

  it("should refuse an unknown scenario name", async () => {
    const message = expectUsageError(await cli("run", "nope"));
    expect(message).toBe('unknown scenario "nope" (see `cocomem list`)');
  });

  it("should refuse run with no scenario", async () => {
    const message = expectUsageError(await cli("run"));
    expect(message).toContain("which scenario?");
  });

  it("should refuse a seed that is not a number", async () => {
    const message = expectUsageError(await cli("run", "--seed", "abc", "x"));
    expect(message).toContain("'abc' is invalid");
    expect(message).toContain("a seed is an integer from 0 to 4294967295");
  });

  it("should refuse a seed out of range", async () => {
    expectUsageError(await cli("run", "--seed", "4294967296", "tdx/punch-hole"));
    expectUsageError(await cli("run", "--seed=-1", "tdx/punch-hole"));
  });

  it("should refuse an unknown guest policy", async () => {
    const message = expectUsageError(await cli("run", "--guest-policy", "evil", "tdx/punch-hole"));
    expect(message).toContain("'evil' is invalid");
    expect(message).toContain("linux, naive");
  });

  it("should refuse an unknown flag", async () => {
    const message = expectUsageError(await cli("run", "--bogus"));
    expect(message).toBe("unknown option '--bogus'");
  });

  it("should refuse --all together with a scenario", async () => {
    const message = expectUsageError(await cli("run", "--all", "tdx/punch-hole"));
    expect(message).toBe("give either a scenario or --all, not both");
  });

  it("should refuse --all together with --log", async () => {
    const message = expectUsageError(await cli("run", "--all", "--log", join(dir, "all.jsonl")));
    expect(message).toBe("--log takes one scenario, not --all");
  });

  it("should refuse a second scenario argument", async () => {
    expectUsageError(await cli("run", "tdx/punch-hole", "tdx/teardown"));
  });

  it("should refuse a scenario file that is not JSON", async () => {
    const path = await file("broken.json", "{ name: oops");
    const message = expectUsageError(await cli("run", path));
    expect(message).toMatch(new RegExp(`^${path.replace(/[.]/g, "\\.")}: not valid JSON \\(`));
  });

  it("should refuse a scenario file of the wrong shape, naming the field path", async () => {
    const path = await file("vcpus.json", JSON.stringify({ ...VALID, guest: { ...VALID.guest, vcpus: 0 } }));
    const message = expectUsageError(await cli("run", path));
    expect(message).toMatch(/: invalid scenario: guest\.vcpus: /);
  });

  it("should name the path of a nested bad field and of an unknown key", async () => {
    const badStep = await file(
      "step.json",
      JSON.stringify({
        ...VALID,
        guest: { ...VALID.guest, workload: [[{ op: "accept", gpa: "2Q", size: "2M" }]] },
      }),
    );
    expect(expectUsageError(await cli("run", badStep))).toMatch(
      /invalid scenario: guest\.workload\[0\]\[0\]\.gpa/,
    );
    const extra = await file("extra.json", JSON.stringify({ ...VALID, colour: "blue" }));
    expect(expectUsageError(await cli("run", extra))).toMatch(/invalid scenario: .*colour/);
  });

  it("should refuse a missing scenario file", async () => {
    const message = expectUsageError(await cli("run", "./nope.json"));
    expect(message).toBe("no such scenario file: ./nope.json");
  });

  it("should refuse an unknown platform for describe", async () => {
    const message = expectUsageError(await cli("describe", "sev-snp"));
    expect(message).toBe('unknown platform "sev-snp" (known: tdx, pkvm)');
  });

  it("should refuse describe with no platform or a bad format", async () => {
    expectUsageError(await cli("describe"));
    expectUsageError(await cli("describe", "tdx", "--format", "yaml"));
  });

  it("should refuse list with an argument", async () => {
    expectUsageError(await cli("list", "extra"));
  });

  // `log` keeps its own prefix ("cocomem log: "), as test/log/log-command.test.ts pins; every
  // other command says "cocomem: ".
  it("should refuse log on a missing file, naming it", async () => {
    const missing = join(dir, "missing.jsonl");
    const message = expectUsageError(await cli("log", missing), "cocomem log: ");
    expect(message).toMatch(new RegExp(`^${missing.replace(/[.]/g, "\\.")}: cannot read: ENOENT`));
  });
});
