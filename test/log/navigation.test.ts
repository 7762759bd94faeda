// `cocomem log` windows (--around, --from/--to), line-type filters (--type verdict, violation,
// header), a violation's evidence as seqs, and --why on a violation. Expected seqs come from the
// fixture's log, searched by content.
import { readFile, writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Envelope } from "../../protocol/index.ts";
import type { LogLine, VerdictLine, ViolationLine } from "../../protocol/log.ts";
import { type ConvertLog, convertLog, runLog as run } from "./fixture.ts";

let log: ConvertLog;
/** The fixture's log with a violation inserted before its verdict. */
let violated: string;
let violation: ViolationLine;
beforeAll(async () => {
  log = await convertLog();
  const read = effectOf("read");
  const write = effectOf("write");
  const end = verdictOf();
  violation = {
    type: "violation",
    seq: end.seq,
    monitor: "integrity",
    invariant: "no silent zero page",
    responsible: "guest",
    gpa: 0x200000,
    hpa: 0x100002000,
    evidence: [write.seq, read.seq],
    detail: "read zero, expected guest:s1(secret)",
  };
  const rows = (await readFile(log.file, "utf8")).trimEnd().split("\n");
  violated = `${log.file}.violated`;
  await writeFile(
    violated,
    [...rows.slice(0, -1), JSON.stringify(violation), JSON.stringify({ ...end, seq: end.seq + 1 }), ""].join(
      "\n",
    ),
  );
});
afterAll(() => log.dispose());

const numbered = (): Exclude<LogLine, { type: "header" }>[] =>
  log.lines.filter((l): l is Exclude<LogLine, { type: "header" }> => l.type !== "header");
/** The first effect of the kind on the fixture's page, 0x200000. */
const effectOf = (kind: string) =>
  numbered().find(
    (l) => l.type === "effect" && l.effect.e === kind && "gpa" in l.effect && l.effect.gpa === 0x200000,
  )!;
const verdictOf = (): VerdictLine => log.lines.at(-1) as VerdictLine;
/** The VMM's punch of the page as it goes shared. */
const fallocate = (): Envelope =>
  numbered().find(
    (l): l is Envelope => l.type === "msg" && l.msg.type === "fallocate" && l.kind === "request",
  )!;
const seqsOf = (out: string): number[] =>
  out
    .trimEnd()
    .split("\n")
    .map((row) => Number(row.slice(0, 5)));
const isGuest = (l: LogLine): boolean =>
  l.type === "msg"
    ? l.from.startsWith("guest/") || l.to.startsWith("guest/")
    : l.type === "effect" && l.effect.by.startsWith("guest/");

describe("cocomem log --around", () => {
  it("should print the line and n lines each side", async () => {
    const at = fallocate().seq;
    const result = await run(log.file, "--around", `${at},2`);
    expect(result.code).toBe(0);
    expect(result.err).toBe("");
    expect(seqsOf(result.out)).toEqual([at - 2, at - 1, at, at + 1, at + 2]);
    const rows = result.out.split("\n");
    expect(rows[2]).toBe(
      `${String(at).padStart(5)}  host/vmm -> host/kvm  request  fallocate fd=10 mode=3 offset=0x200000 len=0x1000`,
    );
    // Ten each side by default.
    expect(seqsOf((await run(log.file, "--around", String(at))).out)).toEqual(
      Array.from({ length: 21 }, (_, i) => at - 10 + i),
    );
  });

  it("should count lines that pass the filters, and show the line asked for whatever they say", async () => {
    const at = fallocate().seq;
    const guest = numbered().filter(isGuest);
    const before = guest.filter((l) => l.seq < at).slice(-3);
    const after = guest.filter((l) => l.seq > at).slice(0, 3);
    const result = await run(log.file, "--around", `${at},3`, "--party", "guest");
    expect(seqsOf(result.out)).toEqual([...before, fallocate(), ...after].map((l) => l.seq));
    // JSON lines are the log's lines.
    const json = await run(log.file, "--around", `${at},3`, "--party", "guest", "--format", "json");
    expect(
      json.out
        .trimEnd()
        .split("\n")
        .map((row) => JSON.parse(row)),
    ).toEqual([...before, fallocate(), ...after]);
  });

  it("should draw a mermaid window of the messages around the line, with the verdict", async () => {
    const at = fallocate().seq;
    const messages = numbered().filter((l): l is Envelope => l.type === "msg");
    const window = [
      ...messages.filter((m) => m.seq < at).slice(-2),
      fallocate(),
      ...messages.filter((m) => m.seq > at).slice(0, 2),
    ];
    const result = await run(log.file, "--around", `${at},2`, "--format", "mermaid");
    expect(result.code).toBe(0);
    const rows = result.out.trimEnd().split("\n");
    const arrows = rows.filter((r) => /->>|-->>/.test(r));
    expect(arrows.map((r) => r.replace(/^.*: /, "").split(" ")[0])).toEqual(window.map((m) => m.msg.type));
    expect(arrows[2]).toBe("  host_vmm->>host_kvm: fallocate");
    // The window's messages pass between hw, KVM and the VMM: the verdict spans them.
    expect(rows.at(-1)).toBe("  Note over host_vmm,hw: verdict completed: workload complete, VM torn down");
  });

  it("should refuse a seq not in the log, a bad window and a window with a range", async () => {
    const missing = await run(log.file, "--around", "99999");
    expect(missing).toEqual({
      code: 2,
      out: "",
      err: `cocomem log: no line #99999 in ${log.file} (--around)\n`,
    });
    for (const argv of [
      ["--around", "5,"],
      ["--around", "5,x"],
      ["--around", "5,1,2"],
      ["--around", "five"],
      ["--around", "5", "--from", "3"],
      ["--around", "5", "--page", "2M"],
    ]) {
      const result = await run(log.file, ...argv);
      expect(result.code, argv.join(" ")).toBe(2);
      expect(result.out).toBe("");
      expect(result.err).toMatch(/^cocomem log: [^\n]+\n$/);
    }
  });
});

describe("cocomem log --from/--to", () => {
  it("should print the lines in the seq range, combined with the filters", async () => {
    const all = await run(log.file, "--from", "40", "--to", "45");
    expect(seqsOf(all.out)).toEqual([40, 41, 42, 43, 44, 45]);
    const sept = numbered().filter(
      (l) => l.type === "effect" && l.effect.e === "sept" && l.seq >= 40 && l.seq <= 120,
    );
    expect(sept.length).toBeGreaterThan(1);
    const filtered = await run(log.file, "--from", "40", "--to", "120", "--type", "sept");
    expect(seqsOf(filtered.out)).toEqual(sept.map((l) => l.seq));
    const last = verdictOf().seq;
    expect(seqsOf((await run(log.file, "--from", String(last - 2))).out)).toEqual([last - 2, last - 1, last]);
  });

  it("should keep a page timeline's entries in the range, and its verdict", async () => {
    const result = await run(log.file, "--page", "2M", "--from", "100", "--to", "110");
    const rows = result.out.trimEnd().split("\n");
    const seqs = rows.slice(1).map((r) => Number(r.slice(0, 5)));
    expect(seqs.slice(0, -1).every((s) => s >= 100 && s <= 110)).toBe(true);
    expect(seqs).toContain(fallocate().seq);
    expect(seqs.at(-1)).toBe(verdictOf().seq);
  });

  it("should refuse a range that ends before it starts", async () => {
    expect(await run(log.file, "--from", "10", "--to", "5")).toEqual({
      code: 2,
      out: "",
      err: "cocomem log: --from 10 comes after --to 5\n",
    });
  });
});

describe("cocomem log --type for line types", () => {
  it("should keep only the verdict, the violations, or the header", async () => {
    const end = verdictOf();
    const verdict = await run(log.file, "--type", "verdict");
    expect(verdict).toEqual({
      code: 0,
      out: `${String(end.seq).padStart(5)}  verdict  completed reason="workload complete, VM torn down" steps=${end.steps} violations=0\n`,
      err: "",
    });
    expect((await run(log.file, "--type", "violation")).out).toBe("");
    const header = await run(log.file, "--type", "header");
    expect(header.out).toMatch(
      /^ {4}- {2}header {2}format=2 cocomem=\S+ scenario=tdx\/log-convert platform=tdx seed=1 [^\n]*\n$/,
    );
  });

  it("should print a violation's evidence as seqs", async () => {
    const result = await run(violated, "--type", "violation");
    const [write, read] = violation.evidence;
    expect(result.out).toBe(
      `${String(violation.seq).padStart(5)}  violation guest  integrity/no silent zero page gpa=0x200000 hpa=0x100002000 evidence=#${write},#${read} detail="read zero, expected guest:s1(secret)"\n`,
    );
  });
});

describe("cocomem log --why on a violation", () => {
  it("should step back to its latest evidence, then follow that line's causes", async () => {
    const read = effectOf("read");
    const request = numbered().find(
      (l) => l.type === "msg" && read.type === "effect" && l.id === read.causedBy,
    )!;
    const result = await run(violated, "--why", String(violation.seq), "--limit", "2");
    expect(result.out.split("\n").slice(0, 3)).toEqual([
      `guest   ${"  "} ${String(violation.seq).padStart(5)}  violation guest  integrity/no silent zero page gpa=0x200000 hpa=0x100002000 evidence=#${violation.evidence.join(",#")} detail="read zero, expected guest:s1(secret)"`,
      `        <- ${String(read.seq).padStart(5)}  effect guest/vcpu0  read hpa=0x100002000 gpa=0x200000 content=zero`,
      `        <- ${String(request.seq).padStart(5)}  guest/vcpu0 -> hw  request  guest.access vcpu=0 op=read gpa=0x200000`,
    ]);
    expect(result.err).toMatch(/^cocomem log: showing 2 of \d+ steps back \(--limit\)\n$/);
  });

  it("should say where a chain breaks on a cause not in the log", async () => {
    const rows = (await readFile(log.file, "utf8")).trimEnd().split("\n");
    const cut = `${log.file}.cut`;
    // Without the fallocate line, the guest_memfd free it caused names a message not in the log.
    const punch = fallocate();
    await writeFile(cut, `${rows.filter((r) => !r.includes(`"id":"${punch.id}"`)).join("\n")}\n`);
    const gmemFree = numbered().find(
      (l) =>
        l.type === "effect" && l.effect.e === "gmem" && l.effect.op === "free" && l.causedBy === punch.id,
    )!;
    const result = await run(cut, "--why", String(gmemFree.seq));
    expect(seqsOf(result.out.replace(/^.{11}/gm, ""))).toEqual([gmemFree.seq]);
    expect(result.err).toBe(
      `cocomem log: #${gmemFree.seq} names a cause that is not in ${cut}: the chain stops there\n`,
    );
  });
});
