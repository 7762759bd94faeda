// `cocomem diff` as a user runs it: real logs, some edited by hand, and the exact text printed.
// The expected lines are written out from the raw log (pkvm/mem-share-untouched, seed 1), where
// line n holds seq n - 2.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, expectUsageError } from "./capture.ts";

let dir: string;
let base: string;
let rows: string[];

async function write(name: string, lines: readonly string[]): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, lines.length > 0 ? `${lines.join("\n")}\n` : "");
  return file;
}

async function run(file: string, ...options: string[]): Promise<string> {
  const path = join(dir, file);
  const result = await cli("run", "pkvm/mem-share-untouched", "--log", path, ...options);
  if (result.code !== 0) throw new Error(result.err);
  return path;
}

/** The base log with the MEMINFO answer (line 11) saying x1=0 instead of 1. */
const x1Edited = () => rows.map((row, i) => (i === 10 ? row.replace('"x1":1}', '"x1":0}') : row));

const ZEROED = [
  "who zeroed, and why                        A       B",
  "host/kvm: anonymous page first touch       1       1",
];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cocomem-diff-cli-"));
  base = await run("base.jsonl", "--seed", "1");
  rows = (await readFile(base, "utf8")).trimEnd().split("\n");
});
afterAll(() => rm(dir, { recursive: true }));

describe("cocomem diff", () => {
  it("should print identical and exit 0 for the same run written twice", async () => {
    const again = await run("again.jsonl", "--seed", "1");
    expect(await cli("diff", base, again)).toEqual({
      code: 0,
      out: "identical (61 lines, completed)\n",
      err: "",
    });
  });

  it("should print identical for two seeds of a one-vCPU run, and the seeds in a header line", async () => {
    const seed2 = await run("seed2.jsonl", "--seed", "2");
    expect(await cli("diff", base, seed2)).toEqual({
      code: 0,
      out: "identical (61 lines, completed)\nheader: seed 1 (A), 2 (B)\n",
      err: "",
    });
  });

  it("should show the edited line of each log with the context around it, then the summary; exit 1", async () => {
    expect(rows[10]).toContain('"seq":9,');
    expect(rows[10]).toContain('"x1":1}');
    const b = await write("x1.jsonl", x1Edited());
    const result = await cli("diff", base, b, "--context", "2");
    expect(result.err).toBe("");
    expect(result.code).toBe(1);
    expect(result.out.split("\n")).toEqual([
      "first difference at line 11 (seq 9): msg.x1: 1 (A), 0 (B)",
      "         7  fw -> host/kvm  response  __pkvm_vcpu_load ret=0",
      "         8  host/kvm -> fw  request  __kvm_vcpu_run vcpu=0",
      "  A      9  fw -> guest/vcpu0  response  ARM_SMCCC_VENDOR_HYP_KVM_HYP_MEMINFO x0=4096 x1=1",
      "  A     10  guest/vcpu0 -> fw  request  ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE ipa=0x100000",
      "  A     11  fw -> host/kvm  response  __kvm_vcpu_run ret=0 exit={reason=HYP_REQ req=MAP ipa=0x100000 size=0x1000}",
      "  B      9  fw -> guest/vcpu0  response  ARM_SMCCC_VENDOR_HYP_KVM_HYP_MEMINFO x0=4096 x1=0",
      "  B     10  guest/vcpu0 -> fw  request  ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE ipa=0x100000",
      "  B     11  fw -> host/kvm  response  __kvm_vcpu_run ret=0 exit={reason=HYP_REQ req=MAP ipa=0x100000 size=0x1000}",
      "",
      `A: ${base}: 61 lines, completed: workload complete, VM torn down`,
      `B: ${b}: 61 lines, completed: workload complete, VM torn down`,
      "outcome: same (completed)",
      "violations: none",
      "",
      ...ZEROED,
      "",
    ]);
  });

  it("should show five lines of context each side by default", async () => {
    const b = await write("x1-default.jsonl", x1Edited());
    const lines = (await cli("diff", base, b)).out.split("\n");
    // Lines 6-10 before (seqs 4-8), then 11-16 of each (seqs 9-14).
    expect(lines.slice(1, 18).map((l) => l.slice(0, 10))).toEqual([
      ...[4, 5, 6, 7, 8].map((seq) => `     ${String(seq).padStart(5)}`),
      ...[9, 10, 11, 12, 13, 14].map((seq) => `  A  ${String(seq).padStart(5)}`),
      ...[9, 10, 11, 12, 13, 14].map((seq) => `  B  ${String(seq).padStart(5)}`),
    ]);
    expect(lines[18]).toBe("");
  });

  it("should say where a log cut short ends and that it has no verdict", async () => {
    const cut = await write("cut.jsonl", rows.slice(0, 20));
    const result = await cli("diff", base, cut, "--context", "1");
    expect(result.code).toBe(1);
    expect(result.out.split("\n")).toEqual([
      "first difference at line 21 (seq 19): B ends (cut short: no verdict)",
      "        18  fw -> host/kvm  response  __pkvm_host_donate_guest ret=0",
      "  A     19  host/kvm -> fw  request  __kvm_vcpu_run vcpu=0",
      "  A     20  effect fw  stage2 gpa=0x100000 level=4K from=PKVM_PAGE_OWNED to=PKVM_PAGE_SHARED_OWNED hpa=0x100000000",
      "  B  (end of log)",
      "",
      `A: ${base}: 61 lines, completed: workload complete, VM torn down`,
      `B: ${cut}: 20 lines, cut short: no verdict`,
      "outcome: unknown: B was cut short",
      "violations: none",
      "",
      ...ZEROED,
      "",
    ]);
  });

  it("should print the same comparison as JSON with --json", async () => {
    const b = await write("x1-json.jsonl", x1Edited());
    const result = await cli("diff", base, b, "--json", "--context", "0");
    expect(result.code).toBe(1);
    const json = JSON.parse(result.out);
    expect(json).toMatchObject({
      identical: false,
      divergence: { lineA: 11, lineB: 11, field: "msg.x1", a: 1, b: 0, before: [] },
      a: { path: base, lines: 61, verdict: { outcome: "completed" } },
      header: [],
      violations: { onlyA: [], onlyB: [], both: 0 },
      zeroings: {
        a: { "host/kvm: anonymous page first touch": 1 },
        b: { "host/kvm: anonymous page first touch": 1 },
      },
    });
    expect(json.divergence.linesA.map((l: { lineNo: number }) => l.lineNo)).toEqual([11]);
    expect(json.divergence.linesB[0].line).toEqual(JSON.parse(x1Edited()[10]!));
  });

  it("should print its help", async () => {
    const result = await cli("help", "diff");
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^Usage: cocomem diff \[options\] <a> <b>/);
    expect(result.out).toContain("--context <n>");
  });
});

describe("cocomem diff on bad input", () => {
  const usage = (result: Awaited<ReturnType<typeof cli>>) => expectUsageError(result, "cocomem diff: ");

  it("should want two logs and a whole number of context lines", async () => {
    expect(usage(await cli("diff", base))).toBe("missing required argument 'b'");
    expect(usage(await cli("diff", base, base, base))).toBe(
      "too many arguments. Expected 2 arguments but got 3.",
    );
    expect(usage(await cli("diff", base, base, "--context", "-1"))).toBe(
      "option '--context <n>' argument '-1' is invalid. expected a whole number of lines",
    );
  });

  it("should name a missing file", async () => {
    const missing = join(dir, "missing.jsonl");
    expect(usage(await cli("diff", base, missing))).toBe(
      `${missing}: cannot read: ENOENT: no such file or directory, open '${missing}'`,
    );
  });

  it("should refuse a file that is not a run log, an empty one and an old format", async () => {
    const text = await write("notes.txt", ["some notes"]);
    expect(usage(await cli("diff", text, base))).toBe(`${text}:1: not JSON`);
    const scenario = await write("scenario.jsonl", ['{"name":"x","platform":"tdx"}']);
    expect(usage(await cli("diff", base, scenario))).toMatch(
      new RegExp(`^${scenario}:1: invalid log line: type: `),
    );
    const empty = await write("empty.jsonl", []);
    expect(usage(await cli("diff", base, empty))).toBe(
      `${empty} is empty: a run log has a header line, then one line per message`,
    );
    const header = JSON.parse(rows[0]!);
    const old = await write("old.jsonl", [
      JSON.stringify({ ...header, format: 1, cocomem: "0.4.0" }),
      ...rows.slice(1),
    ]);
    expect(usage(await cli("diff", old, base))).toBe(
      `${old}:1: a log in format 1 (written by cocomem 0.4.0); this cocomem reads format 2: run the scenario again to get a log it can read`,
    );
  });

  it("should print nothing but the error when a bad line comes after the divergence", async () => {
    const bad = await write("late-bad.jsonl", [...x1Edited().slice(0, 50), "{oops", ...rows.slice(50)]);
    expect(usage(await cli("diff", base, bad))).toBe(`${bad}:51: not JSON`);
  });
});
