// Comparing two run logs: real runs written by the CLI, some of them edited by hand here. Expected
// line numbers come from the files themselves (seq + 2: line 1 is the header), never from diff.ts.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { diffLogFiles, type LogDiff } from "../../src/log/diff.ts";
import { pullLogFile } from "../../src/log/read.ts";
import { cli } from "../cli/capture.ts";

let dir: string;
/** pkvm/mem-share-untouched (one vCPU, 61 lines), seed 1. */
let base: string;
let rows: string[];

/** Write a log made of `lines` (JSON text) and return its path. */
async function write(name: string, lines: readonly string[]): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, `${lines.join("\n")}\n`);
  return file;
}

/** A copy of the base log with line `lineNo` (1-based) replaced by `edit` of its JSON. */
function edited(lineNo: number, edit: (json: Record<string, unknown>) => void): string[] {
  const copy = [...rows];
  const json = JSON.parse(copy[lineNo - 1]!);
  edit(json);
  copy[lineNo - 1] = JSON.stringify(json);
  return copy;
}

async function diff(a: string, b: string, context?: number): Promise<LogDiff> {
  const result = await diffLogFiles(a, b, { context });
  if (!result.ok) throw new Error(result.message);
  return result.diff;
}

async function run(scenario: string, file: string, ...options: string[]): Promise<string> {
  const path = join(dir, file);
  const result = await cli("run", scenario, "--log", path, ...options);
  if (result.code !== 0) throw new Error(`run ${scenario}: ${result.err}`);
  return path;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cocomem-diff-"));
  base = await run("pkvm/mem-share-untouched", "base.jsonl", "--seed", "1");
  rows = (await readFile(base, "utf8")).trimEnd().split("\n");
});
afterAll(() => rm(dir, { recursive: true }));

describe("diffing two logs", () => {
  it("should find two runs of the same scenario and seed identical, headers equal", async () => {
    const again = await run("pkvm/mem-share-untouched", "again.jsonl", "--seed", "1");
    const d = await diff(base, again);
    expect(d.identical).toBe(true);
    expect(d.divergence).toBeUndefined();
    expect(d.header).toEqual([]);
    expect(d.a.lines).toBe(61);
    expect(d.b.lines).toBe(61);
  });

  it("should put the divergence at the one edited line, with the context on both sides", async () => {
    // Line 11 is seq 9: the MEMINFO answer, x1=1 (android16-6.12).
    expect(JSON.parse(rows[10]!)).toMatchObject({ seq: 9, msg: { x1: 1 } });
    const b = await write(
      "x1.jsonl",
      edited(11, (l) => ((l.msg as { x1: number }).x1 = 0)),
    );
    const d = await diff(base, b, 3);
    expect(d.identical).toBe(false);
    expect(d.divergence).toMatchObject({ lineA: 11, lineB: 11, field: "msg.x1", a: 1, b: 0 });
    expect(d.divergence!.before.map((p) => [p.a.lineNo, p.b.lineNo])).toEqual([
      [8, 8],
      [9, 9],
      [10, 10],
    ]);
    expect(d.divergence!.linesA.map((l) => l.lineNo)).toEqual([11, 12, 13, 14]);
    expect(d.divergence!.linesB.map((l) => l.lineNo)).toEqual([11, 12, 13, 14]);
    expect(d.divergence!.linesB[0]!.line).toEqual(
      JSON.parse(edited(11, (l) => ((l.msg as { x1: number }).x1 = 0))[10]!),
    );
    // Both ran to the end: the summary is of whole logs.
    expect(d.a.verdict?.outcome).toBe("completed");
    expect(d.b.verdict?.outcome).toBe("completed");
  });

  it("should name a changed address and show the context the start of the log has", async () => {
    // Give MEM_SHARE's IPA (line 12, seq 10) another page.
    expect(JSON.parse(rows[11]!)).toMatchObject({ seq: 10, msg: { ipa: 0x100000 } });
    const b = await write(
      "ipa.jsonl",
      edited(12, (l) => ((l.msg as { ipa: number }).ipa = 0x101000)),
    );
    const d = await diff(base, b, 20);
    expect(d.divergence).toMatchObject({ lineA: 12, field: "msg.ipa", a: 0x100000, b: 0x101000 });
    // Every line before it, header included, is context: there are only 11.
    expect(d.divergence!.before.map((p) => p.a.lineNo)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it("should take a log cut short as diverging where it ends, and say it was cut", async () => {
    const cut = await write("cut.jsonl", rows.slice(0, 20));
    const d = await diff(base, cut, 2);
    expect(d.divergence).toMatchObject({ lineA: 21, lineB: 21, ended: "B" });
    expect(d.divergence!.field).toBeUndefined();
    expect(d.divergence!.linesA.map((l) => l.lineNo)).toEqual([21, 22, 23]);
    expect(d.divergence!.linesB).toEqual([]);
    expect(d.b.verdict).toBeUndefined();
    expect(d.b.lines).toBe(20);
    // The other way round, and cut just before the verdict (the last line, 61).
    const noVerdict = await write("no-verdict.jsonl", rows.slice(0, 60));
    const r = await diff(noVerdict, base, 0);
    expect(r.divergence).toMatchObject({ lineA: 61, lineB: 61, ended: "A", before: [] });
    expect(r.divergence!.linesB.map((l) => l.line.type)).toEqual(["verdict"]);
  });

  it("should compare references by what they point at, not by id", async () => {
    // Line 13 (seq 11) answers __kvm_vcpu_run, line 10 (seq 8): 3 lines back. Point it at the
    // __pkvm_vcpu_load request on line 8 (seq 6) instead: 5 back.
    const line = (n: number) => JSON.parse(rows[n - 1]!);
    expect(line(13).re).toBe(line(10).id);
    const b = await write(
      "re.jsonl",
      edited(13, (l) => (l.re = line(8).id)),
    );
    expect((await diff(base, b)).divergence).toMatchObject({ lineA: 13, field: "re", a: 3, b: 5 });
    // Renaming one message everywhere it is named changes nothing that happened.
    const id = line(10).id as string;
    const renamed = await write(
      "renamed.jsonl",
      rows.map((r) => r.replaceAll(`"${id}"`, '"renamed-1"')),
    );
    expect(rows.filter((r) => r.includes(`"${id}"`)).length).toBeGreaterThan(2);
    expect((await diff(base, renamed)).identical).toBe(true);
  });

  it("should find one-vCPU runs of two seeds identical though every id differs", async () => {
    const seed2 = await run("pkvm/mem-share-untouched", "seed2.jsonl", "--seed", "2");
    const other = (await readFile(seed2, "utf8")).trimEnd().split("\n");
    const ids = (lines: string[]) => lines.map((l) => JSON.parse(l).id).filter(Boolean);
    expect(ids(other).some((id, i) => id === ids(rows)[i])).toBe(false);
    const d = await diff(base, seed2);
    expect(d.identical).toBe(true);
    expect(d.header).toEqual([{ field: "seed", a: 1, b: 2 }]);
  });

  it("should put two seeds of a two-vCPU run apart where the schedule does, not where an id does", async () => {
    const a = await run("tdx/two-vcpus-convert", "two-1.jsonl", "--seed", "1");
    const b = await run("tdx/two-vcpus-convert", "two-2.jsonl", "--seed", "2");
    // The first line that differs once ids and references are dropped, found here on its own.
    const strip = (text: string) => {
      const { seq: _s, id: _i, re: _r, causedBy: _c, ...rest } = JSON.parse(text);
      return JSON.stringify(rest);
    };
    const [la, lb] = await Promise.all(
      [a, b].map(async (f) => (await readFile(f, "utf8")).trimEnd().split("\n")),
    );
    const first = la!.findIndex((l, i) => i > 0 && strip(l) !== strip(lb![i]!)) + 1;
    expect(first).toBeGreaterThan(2);
    const d = await diff(a, b);
    expect(d.divergence).toMatchObject({ lineA: first, lineB: first });
    expect(d.divergence!.field).not.toMatch(/^(re|causedBy)$/);
    expect(d.header).toEqual([{ field: "seed", a: 1, b: 2 }]);
  });

  it("should find where two profiles of a pKVM scenario part: the MEMINFO answer", async () => {
    const android = await run("pkvm/mem-share-untouched", "android.jsonl", "--profile", "android16-6.12");
    const upstream = await run("pkvm/mem-share-untouched", "upstream.jsonl", "--profile", "linux-7.1");
    const up = (await readFile(upstream, "utf8")).split("\n");
    // linux-7.1's MEMINFO has no range (memInfoHasRange=false): x1 is 0 there, 1 on android16-6.12.
    expect(JSON.parse(up[10]!)).toMatchObject({
      seq: 9,
      msg: { type: "ARM_SMCCC_VENDOR_HYP_KVM_HYP_MEMINFO", x1: 0 },
    });
    const d = await diff(android, upstream);
    expect(d.divergence).toMatchObject({ lineA: 11, lineB: 11, field: "msg.x1", a: 1, b: 0 });
    expect(d.header).toEqual([{ field: "profile", a: "android16-6.12", b: "linux-7.1" }]);
  });

  it("should list violations found in one log only, and who zeroed what in each", async () => {
    const linux = await run(
      "tdx/punch-hole-naive-no-sept-ve-disable",
      "linux.jsonl",
      "--guest-policy",
      "linux",
    );
    const naive = join(dir, "naive.jsonl");
    await cli("run", "tdx/punch-hole-naive-no-sept-ve-disable", "--guest-policy", "naive", "--log", naive);
    const text = await readFile(naive, "utf8");
    const violation = JSON.parse(text.split("\n").find((l) => l.includes('"type":"violation"'))!);
    const d = await diff(linux, naive);
    expect(d.header).toEqual([{ field: "options.guestPolicy", a: "linux", b: "naive" }]);
    expect(d.a.verdict?.outcome).toBe("guest-terminated");
    expect(d.b.verdict?.outcome).toBe("violation");
    expect(d.violations).toEqual({
      onlyA: [],
      onlyB: [
        `${violation.monitor}/${violation.invariant} (guest) gpa=0x400000 hpa=0x${violation.hpa.toString(16)}: ${violation.detail}`,
      ],
      both: 0,
    });
    // The naive guest accepts the 2M range (512 pages) and the punched page once more.
    const accepts = text.split("\n").filter((l) => l.includes('"why":"TDG.MEM.PAGE.ACCEPT"')).length;
    expect(accepts).toBe(513);
    expect(d.zeroings.b["fw: TDG.MEM.PAGE.ACCEPT"]).toBe(accepts);
    expect(d.zeroings.a["fw: TDG.MEM.PAGE.ACCEPT"]).toBeUndefined();
  });

  it("should read the same in small chunks as in large ones (both files walked together)", async () => {
    const b = await write(
      "x1-chunks.jsonl",
      edited(40, (l) => (l.seq = 1000)),
    );
    const whole = await diffLogFiles(base, b);
    const chunked = await diffLogFiles(base, b, { chunk: 97 });
    expect(chunked).toEqual(whole);
    expect(whole.ok && whole.diff.identical).toBe(true);
  });

  it("should fail with read.ts's words on a bad line, wherever it is, and on an empty file", async () => {
    const bad = await write("bad.jsonl", [...rows.slice(0, 50), '{"type":"msg",', ...rows.slice(50)]);
    expect(await diffLogFiles(base, bad)).toEqual({ ok: false, message: `${bad}:51: not JSON` });
    const empty = await write("empty.jsonl", []);
    expect(await diffLogFiles(empty, base)).toEqual({
      ok: false,
      message: `${empty} is empty: a run log has a header line, then one line per message`,
    });
  });
});

describe("pulling a log's lines", () => {
  it("should hand over every line in order and return the read's result", async () => {
    const seen: number[] = [];
    const read = pullLogFile(base, { chunk: 100 });
    let next = await read.next();
    for (; !next.done; next = await read.next()) seen.push(next.value.lineNo);
    expect(seen).toEqual(rows.map((_, i) => i + 1));
    expect(next.value).toEqual({ ok: true, lines: 61, verdict: true, stopped: false });
  });

  it("should end the read when left early", async () => {
    const read = pullLogFile(base, { chunk: 100 });
    for await (const { lineNo } of read) if (lineNo === 3) break;
    expect(await read.next()).toEqual({ done: true, value: undefined });
  });
});
