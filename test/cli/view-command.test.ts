// `cocomem view` as a user runs it: where the page goes, and bad input refused in one line (the
// page itself is tested in a browser: test/view/viewer.test.ts).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, expectUsageError } from "./capture.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "cocomem-view-cli-"));
const log = join(dir, "share.jsonl");
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(async () => {
  expect((await cli("run", "pkvm/share-unshare", "--log", log)).code).toBe(0);
});

describe("cocomem view", () => {
  it("writes FILE.html beside the log by default, prints its path, and the page holds everything", async () => {
    const made = await cli("view", log);
    expect(made).toEqual({ code: 0, out: `${join(dir, "share.html")}\n`, err: "" });
    const html = readFileSync(join(dir, "share.html"), "utf8");
    expect(html.startsWith("<!doctype html>")).toBe(true);
    // One file: no script or style from anywhere else, nothing fetched.
    expect(html).not.toMatch(/<script[^>]+src=|<link |@import/);
    expect(html).toContain("<title>cocomem: pkvm/share-unshare (seed 1)</title>");
  });

  it("writes where --out says", async () => {
    const out = join(dir, "elsewhere.html");
    expect(await cli("view", log, "--out", out)).toEqual({ code: 0, out: `${out}\n`, err: "" });
    expect(readFileSync(out, "utf8")).toContain('id="cocomem-data"');
  });

  it("refuses a file that is not a cocomem log", async () => {
    expect(expectUsageError(await cli("view", join(ROOT, "README.md")))).toBe(
      `view: ${join(ROOT, "README.md")} is not a cocomem run log: its first line is not a log header (write one with cocomem run --log FILE)`,
    );
  });

  it("refuses a log in an older format, saying how to get one it reads", async () => {
    const old = join(dir, "old.jsonl");
    const rows = readFileSync(log, "utf8").split("\n");
    writeFileSync(old, [rows[0]!.replace('"format":2', '"format":1'), ...rows.slice(1)].join("\n"));
    expect(expectUsageError(await cli("view", old))).toMatch(
      /^view: .*old\.jsonl:1: a log in format 1 \(written by cocomem [\d.]+\); this cocomem reads format 2: run the scenario again/,
    );
  });

  it("refuses a malformed line in the middle, naming it", async () => {
    const bad = join(dir, "bad.jsonl");
    const rows = readFileSync(log, "utf8").split("\n");
    rows[5] = "{not json";
    writeFileSync(bad, rows.join("\n"));
    expect(expectUsageError(await cli("view", bad))).toBe(`view: ${bad}:6: not JSON`);
  });

  it("refuses a missing file, an empty one, and --out naming the input", async () => {
    expect(expectUsageError(await cli("view", join(dir, "missing.jsonl")))).toMatch(
      /^view: .*missing\.jsonl: cannot read: ENOENT/,
    );
    const empty = join(dir, "empty.jsonl");
    writeFileSync(empty, "");
    expect(expectUsageError(await cli("view", empty))).toBe(
      `view: ${empty} is empty, or does not start with a log header`,
    );
    expect(expectUsageError(await cli("view", log, "--out", log))).toBe(
      `view: --out ${log} is the input file itself`,
    );
  });

  it("refuses a replay file that is not valid", async () => {
    const replay = join(dir, "broken.json");
    writeFileSync(replay, JSON.stringify({ format: "cocomem-replay", version: 1 }));
    expect(expectUsageError(await cli("view", replay))).toMatch(
      /^view: .*broken\.json: not a valid replay file: /,
    );
  });
});
