// `cocomem explore` and `cocomem replay` as a user runs them: findings, the same twice, a replay
// that reproduces, bounded search that says it exhausted its space, Ctrl-C, and bad arguments.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { FULL_MIX } from "../../src/adversaries/any/mix.ts";
import { targetOf } from "../../src/explore/batch.ts";
import { exploreRun } from "../../src/explore/runner.ts";
import { lenient } from "../../src/explore/strategies.ts";
import { cli, expectUsageError } from "./capture.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "cocomem-explore-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SHARE = ["pkvm/explore-share", "--guest-policy", "naive", "--runs", "400", "--workers", "1"];

describe("cocomem explore", () => {
  it("prints each finding as a story with its replay command, exits 1, and the replay reproduces it", async () => {
    const out = join(dir, "text");
    const result = await cli("explore", ...SHARE, "--out", out, "--no-progress");
    expect(result.code, result.err).toBe(1);
    expect(result.out).toMatch(
      /^exploring pkvm\/explore-share \(pkvm, guest naive\) against the generic adversary: portfolio, seed 1, 400 runs, 1 worker\n/,
    );
    expect(result.out).toMatch(/400 runs in [\d.]+ s \(\d+ runs\/s\): \d+ findings?\n/);
    expect(result.out).toContain("finding 1: confidentiality: no guest secret reaches the host (guest)");
    expect(result.out).toMatch(/shrunk to \d+ in \d+ replays/);
    const file = /replay: cocomem replay (\S+)/.exec(result.out)![1]!;
    const replayed = await cli("replay", file);
    expect(replayed.code, replayed.err).toBe(0);
    expect(replayed.out).toMatch(
      /^reproduced: confidentiality: no guest secret reaches the host \(guest\) at log seq \d+; the log is identical \(\d+ lines\)/,
    );
  }, 60_000);

  it("finds the same with the same command twice", async () => {
    const run = async () => {
      const result = await cli("explore", ...SHARE, "--out", join(dir, "twice"), "--json");
      const summary = JSON.parse(result.out) as { findings: unknown[]; outcomes: unknown };
      return { findings: summary.findings, outcomes: summary.outcomes };
    };
    const first = await run();
    expect(first.findings.length).toBeGreaterThan(0);
    expect(await run()).toEqual(first);
  }, 60_000);

  it("says when bounded search has run every run within its bound", async () => {
    const result = await cli(
      "explore",
      "pkvm/explore-secret",
      "--strategy",
      "dfs",
      "--depth",
      "1",
      "--runs",
      "100000",
      "--out",
      join(dir, "dfs"),
      "--json",
    );
    const summary = JSON.parse(result.out) as {
      runs: number;
      exhausted: boolean;
      depth: number;
      findings: unknown[];
    };
    // Depth 1: the root run, and one run per other value of each choice the root run made.
    const target = await targetOf({ scenario: "pkvm/explore-secret", adversary: "any" });
    const root = await exploreRun(target, { seed: 1, mix: FULL_MIX, strategy: lenient([]) });
    const expected = 1 + root.tape.reduce((sum, c) => sum + c.n - 1, 0);
    expect(summary).toMatchObject({ exhausted: true, depth: 1, runs: expected });
    expect(result.code).toBe(summary.findings.length > 0 ? 1 : 0);
  }, 120_000);

  it("ends on Ctrl-C with the summary so far and exit 130", async () => {
    const child = spawn(
      process.execPath,
      [
        "bin/cocomem.mjs",
        "explore",
        "tdx/explore-secret",
        "--time",
        "120",
        "--workers",
        "1",
        "--out",
        join(dir, "ctrl-c"),
      ],
      { cwd: ROOT, detached: true, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    while (!out.includes("exploring")) await new Promise((resolve) => setTimeout(resolve, 50));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    process.kill(-child.pid!, "SIGINT");
    expect(await exited).toBe(130);
    expect(out).toMatch(/interrupted after \d+ runs in [\d.]+ s/);
    expect(out).toContain("coverage: ");
  }, 60_000);

  describe("bad arguments: exit 2, one line", () => {
    const cases: [string, string[], RegExp][] = [
      ["no scenario", [], /missing required argument 'scenario'/],
      ["an unknown scenario", ["nope"], /unknown scenario "nope"/],
      ["an unknown strategy", ["tdx/explore-secret", "--strategy", "bogus"], /--strategy.*bogus/],
      ["zero runs", ["tdx/explore-secret", "--runs", "0"], /--runs is a whole number from 1/],
      ["both budgets", ["tdx/explore-secret", "--runs", "5", "--time", "5"], /--runs or --time, not both/],
      ["an unknown adversary", ["tdx/explore-secret", "--adversary", "A99"], /--adversary A99/],
      ["a depth without dfs", ["tdx/explore-secret", "--depth", "3"], /--depth bounds --strategy dfs only/],
      ["zero workers", ["tdx/explore-secret", "--workers", "0"], /--workers is a whole number/],
      [
        "another platform's profile",
        ["tdx/explore-secret", "--profile", "linux-7.1"],
        /--profile linux-7.1 is for pkvm/,
      ],
      [
        "an attack that does not apply",
        ["pkvm/explore-secret", "--adversary", "A9"],
        /A9 does not apply on pkvm/,
      ],
    ];
    for (const [what, args, message] of cases) {
      it(`refuses ${what}`, async () => {
        expect(expectUsageError(await cli("explore", ...args))).toMatch(message);
      });
    }

    it("refuses a replay file that is not one", async () => {
      expect(expectUsageError(await cli("replay", join(ROOT, "package.json")))).toMatch(
        /not a valid replay file/,
      );
      expect(expectUsageError(await cli("replay", join(dir, "missing.json")))).toMatch(/not a replay file/);
    });
  });
});
