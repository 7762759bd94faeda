// Causal navigation in `cocomem log` on the built-in hole punch (tdx/punch-hole): --why from the
// kill back through the VMM's fallocate to the guest's POST, and the page timeline around it.
// Seqs are found by searching the log for the lines by their content; chains are checked against
// the log's own `causedBy` links.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EffectLine, Envelope } from "../../protocol/index.ts";
import type { LogLine, VerdictLine } from "../../protocol/log.ts";
import { runScenario } from "../../src/run/run.ts";
import { findBuiltIn } from "../../src/scenarios/index.ts";
import { cli, expectUsageError } from "./capture.ts";

let dir: string;
let file: string;
let lines: LogLine[];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cocomem-log-why-"));
  file = join(dir, "punch-hole.jsonl");
  const run = await runScenario(findBuiltIn("tdx/punch-hole")!, { logFile: file, keepLog: false });
  expect(run.result.outcome).toBe("vm-killed-by-host");
  lines = (await readFile(file, "utf8"))
    .trimEnd()
    .split("\n")
    .map((row) => JSON.parse(row) as LogLine);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const msgs = (): Envelope[] => lines.filter((l): l is Envelope => l.type === "msg");
/** The one line matching, found by its content. */
function only<T extends LogLine>(found: T[]): T {
  expect(found).toHaveLength(1);
  return found[0]!;
}
const kill = (): EffectLine =>
  only(
    lines.filter(
      (l): l is EffectLine =>
        l.type === "effect" &&
        l.effect.e === "lifecycle" &&
        l.effect.by === "host/kvm" &&
        l.effect.state === "vm-killed",
    ),
  );
const fallocate = (): Envelope =>
  only(
    msgs().filter(
      (m) =>
        m.kind === "request" &&
        m.from === "host/vmm" &&
        m.to === "host/kvm" &&
        m.msg.type === "fallocate" &&
        "mode" in m.msg &&
        m.msg.mode === 3 &&
        m.msg.offset === 0x400000,
    ),
  );
const post = (): Envelope =>
  only(
    msgs().filter(
      (m) =>
        m.kind === "request" &&
        m.from === "guest/vcpu0" &&
        m.msg.type === "TDG.VP.VMCALL<Instruction.IO>" &&
        "port" in m.msg &&
        m.msg.port === 128 &&
        m.msg.value === 1,
    ),
  );
const verdict = (): VerdictLine => lines.at(-1) as VerdictLine;
const seqOfRow = (row: string): number => Number(/^.{11} *(\d+) {2}/.exec(row)![1]);
const col = (seq: number): string => String(seq).padStart(5);

/** The chain of seqs from `seq` back, by the log's own links (the test's walk, not the command's). */
function walk(seq: number): number[] {
  const byId = new Map(msgs().map((m) => [m.id, m]));
  const chain = [seq];
  let line = lines.find((l) => l.type !== "header" && l.seq === seq)!;
  while ((line.type === "msg" || line.type === "effect") && line.causedBy !== undefined) {
    line = byId.get(line.causedBy)!;
    chain.push(line.seq);
  }
  return chain;
}

describe("cocomem log --why on the hole punch", () => {
  it("should go from the kill back through the fallocate and the guest's POST to a root", async () => {
    const killed = kill();
    const result = await cli("log", file, "--why", String(killed.seq), "--limit", "100000");
    expect(result.code).toBe(0);
    expect(result.err).toBe("");
    const rows = result.out.trimEnd().split("\n");
    expect(rows[0]).toBe(
      `host       ${col(killed.seq)}  effect host/kvm  lifecycle state=vm-killed detail="Guest access before accepting 0x400000"`,
    );
    // The exit KVM was handling when it killed the TD: the module's answer to its TDH.VP.ENTER.
    expect(rows[1]).toMatch(
      /^fw {6}<- +\d+ {2}fw -> host\/kvm {2}response {2}TDH\.VP\.ENTER status=TDX_SUCCESS exit=\{reason=EPT_VIOLATION gpa=0x400000 /,
    );
    const seqs = rows.map(seqOfRow);
    expect(seqs).toEqual(walk(killed.seq));
    const punch = fallocate();
    const guest = post();
    expect(seqs).toContain(punch.seq);
    expect(seqs).toContain(guest.seq);
    expect(seqs.indexOf(punch.seq)).toBeLessThan(seqs.indexOf(guest.seq));
    // The step before the fallocate is KVM's first call of the punch (still the host: no party
    // shown); the step before the POST is the module's (so the guest's party is shown).
    expect(rows[seqs.indexOf(punch.seq)]).toBe(
      `        <- ${col(punch.seq)}  host/vmm -> host/kvm  request  fallocate fd=10 mode=3 offset=0x400000 len=0x1000`,
    );
    expect(rows[seqs.indexOf(guest.seq)]).toBe(
      `guest   <- ${col(guest.seq)}  guest/vcpu0 -> fw  request  TDG.VP.VMCALL<Instruction.IO> port=128 value=1`,
    );
    // A root: the first line of the run, which nothing caused; the step before it, KVM's
    // TDH.MNG.CREATE, was the host's too.
    expect(rows.at(-1)).toMatch(/^ {8}<- +0 {2}host\/vmm -> host\/kvm {2}request {2}KVM_TDX_INIT_VM /);
    const between = rows.slice(seqs.indexOf(punch.seq) + 1, seqs.indexOf(guest.seq));
    expect(between.map((r) => r.slice(0, 10))).toEqual(["        <-", "fw      <-"]);
  });

  it("should cap the steps back with --limit, saying so on stderr", async () => {
    const killed = kill();
    const total = walk(killed.seq).length - 1;
    const result = await cli("log", file, "--why", String(killed.seq), "--limit", "3");
    expect(result.out.trimEnd().split("\n").map(seqOfRow)).toEqual(walk(killed.seq).slice(0, 4));
    expect(result.err).toBe(`cocomem log: showing 3 of ${total} steps back (--limit)\n`);
  });

  it("should show 40 steps back unless --limit says otherwise, saying how many there are", async () => {
    const killed = kill();
    const total = walk(killed.seq).length - 1;
    expect(total).toBeGreaterThan(40);
    const result = await cli("log", file, "--why", String(killed.seq));
    expect(result.out.trimEnd().split("\n").map(seqOfRow)).toEqual(walk(killed.seq).slice(0, 41));
    expect(result.err).toBe(`cocomem log: showing 40 of ${total} steps back (--limit)\n`);
  });

  it("should print the chain's log lines as JSON lines", async () => {
    const punch = fallocate();
    const result = await cli(
      "log",
      file,
      "--why",
      String(punch.seq),
      "--format",
      "json",
      "--limit",
      "100000",
    );
    const chain = result.out
      .trimEnd()
      .split("\n")
      .map((row) => JSON.parse(row) as LogLine);
    expect(chain[0]).toEqual(punch);
    expect(chain.map((l) => (l.type === "header" ? -1 : l.seq))).toEqual(walk(punch.seq));
    expect(chain).toContainEqual(post());
  });

  it("should refuse a seq past the end, a non-number, and filters, with exit 2 and one line", async () => {
    const past = expectUsageError(await cli("log", file, "--why", "999999"), "cocomem log: ");
    expect(past).toBe(`no line #999999 in ${file}: its lines run from #0 to #${verdict().seq}`);
    expect(expectUsageError(await cli("log", file, "--why", "kill"), "cocomem log: ")).toContain(
      "expected a sequence number",
    );
    expectUsageError(await cli("log", file, "--why", "1.5"), "cocomem log: ");
    expect(expectUsageError(await cli("log", file, "--why", "5", "--party", "host"), "cocomem log: ")).toBe(
      "--why follows one line's causes back: it takes --format text or json and --limit, not --party",
    );
    expectUsageError(await cli("log", file, "--why", "5", "--format", "mermaid"), "cocomem log: ");
  });
});

describe("cocomem log --page on the hole punch", () => {
  it("should show the calls that started the punch, the kill, and the verdict", async () => {
    const result = await cli("log", file, "--page", "0x400000");
    expect(result.code).toBe(0);
    const rows = result.out.trimEnd().split("\n");
    const punch = fallocate();
    const guest = post();
    // The punch's first line about the page: KVM's BLOCK of it, right after the fallocate.
    const block = msgs().find(
      (m) => m.seq > punch.seq && m.msg.type === "TDH.MEM.RANGE.BLOCK" && m.kind === "request",
    )!;
    expect("gpa" in block.msg && block.msg.gpa).toBe(0x400000);
    // Column widths: the widest actor on this page is guest/kernel.
    expect(rows).toContain(
      `${col(guest.seq)}  guest/vcpu0   TDG.VP.VMCALL<Instruction.IO> request -> fw port=128 value=1  [led to #${block.seq}]`,
    );
    expect(rows).toContain(
      `${col(punch.seq)}  host/vmm      fallocate request -> host/kvm fd=10 mode=3 offset=0x400000 len=0x1000  [led to #${block.seq}]`,
    );
    const killed = kill();
    expect(rows).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^${col(killed.seq)}  host/kvm      lifecycle vm-killed: Guest access before accepting 0x400000  \\[fw TDH\\.VP\\.ENTER response #\\d+\\]$`,
        ),
      ),
    );
    const end = verdict();
    expect(rows.at(-1)).toBe(
      `${col(end.seq)}  verdict       vm-killed-by-host: Guest access before accepting 0x400000`,
    );
    // In seq order, the trigger before what it led to.
    const seqs = rows.slice(1).map((r) => Number(r.slice(0, 5)));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });
});

describe("cocomem log --around with a diagram or a cap", () => {
  it("draws the line it is around even when it is an effect and effects are not drawn", async () => {
    const punch = fallocate();
    const free = lines.find(
      (l): l is EffectLine =>
        l.type === "effect" && l.effect.e === "gmem" && l.effect.op === "free" && l.seq > punch.seq,
    )!;
    const result = await cli("log", file, "--around", `${free.seq},1`, "--format", "mermaid");
    expect(result.code).toBe(0);
    expect(result.out).toContain("guest_memfd free gpa=0x400000");
  });

  it("refuses --limit beside --around, whose window has its own size", async () => {
    expect(
      expectUsageError(await cli("log", file, "--around", "10,5", "--limit", "3"), "cocomem log: "),
    ).toBe("--around sizes its window itself (--around SEQ,N): leave out --limit");
  });
});

describe("cocomem log --from past the end", () => {
  it("is a usage error naming the log's range, as --around and --why past the end are", async () => {
    const last = lines.at(-1)! as VerdictLine;
    expect(expectUsageError(await cli("log", file, "--from", String(last.seq + 1)), "cocomem log: ")).toBe(
      `no line from #${last.seq + 1} in ${file}: its lines run from #0 to #${last.seq}`,
    );
    const result = await cli("log", file, "--from", String(last.seq));
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^ *\d+ {2}verdict {2}vm-killed-by-host /);
  });
});
