// `cocomem view` as a user runs it: where the page goes, and bad input refused in one line (the
// page itself is tested in a browser: test/view/viewer.test.ts).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, expectUsageError } from "./capture.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "cocomem-view-cli-"));
const log = join(dir, "share.jsonl");
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(async () => {
  expect((await cli("run", "pkvm/share-unshare", "--log", log)).code).toBe(0);
});

/** The run a page carries: its data element, unpacked as the page's script does. */
function pageData(html: string): { lines: { type: string; seq?: number }[]; slice?: unknown } {
  const packed = /<script id="cocomem-data" type="[^"]+">([^<]*)<\/script>/.exec(html)![1]!;
  return JSON.parse(gunzipSync(Buffer.from(packed, "base64")).toString("utf8"));
}

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

  it("carries the whole log in the page, line for line", async () => {
    const html = readFileSync(join(dir, "share.html"), "utf8");
    const lines = readFileSync(log, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(pageData(html).lines).toEqual(lines);
  });

  it("makes a page of a part with --from and --to: those seqs, the header and the verdict", async () => {
    const out = join(dir, "part.html");
    expect(await cli("view", log, "--from", "10", "--to", "19", "--out", out)).toEqual({
      code: 0,
      out: `${out}\n`,
      err: "",
    });
    const data = pageData(readFileSync(out, "utf8"));
    const all = readFileSync(log, "utf8").trim().split("\n");
    const verdict = JSON.parse(all.at(-1)!) as { seq: number };
    expect(data.lines.map((l) => l.seq ?? "header")).toEqual([
      "header",
      10,
      11,
      12,
      13,
      14,
      15,
      16,
      17,
      18,
      19,
      verdict.seq,
    ]);
    expect(data.slice).toEqual({ from: 10, to: 19, of: all.length });
    expect(expectUsageError(await cli("view", log, "--from", "20", "--to", "10"))).toBe(
      "view: --from 20 is after --to 10",
    );
    expect(expectUsageError(await cli("view", log, "--from", "-3"))).toMatch(
      /--from <seq>.*expected a sequence number/,
    );
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
    const nowhere = join(dir, "no-such-folder", "x.html");
    expect(expectUsageError(await cli("view", log, "--out", nowhere))).toBe(
      `view: cannot write ${nowhere}: its folder does not exist`,
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
