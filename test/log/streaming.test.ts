// Logs of any size: written in whole lines through a buffer, kept in memory only when asked, and
// read back as a stream in chunks whose edges fall anywhere.
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LogLine } from "../../protocol/log.ts";
import { annotate, Recent } from "../../src/log/query.ts";
import { parseLog, streamLogFile } from "../../src/log/read.ts";
import { pageTimeline, TimelineBuilder } from "../../src/log/timeline.ts";
import { runScenario } from "../../src/run/run.ts";
import { defineScenario } from "../../src/scenarios/define.ts";
import { BUILT_IN } from "../../src/scenarios/index.ts";
import { type ConvertLog, convertLog, PAGE } from "./fixture.ts";

let log: ConvertLog;
let dir: string;
beforeAll(async () => {
  log = await convertLog();
  dir = await mkdtemp(join(tmpdir(), "cocomem-log-stream-"));
});
afterAll(async () => {
  await log.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe("streaming a log file", () => {
  it("should read the same lines whatever the chunk size, with CRLF and no final newline", async () => {
    const crlf = join(dir, "crlf.jsonl");
    writeFileSync(crlf, readFileSync(log.file, "utf8").trimEnd().replaceAll("\n", "\r\n"));
    for (const chunk of [7, 100, 4096]) {
      const lines: LogLine[] = [];
      const read = await streamLogFile(crlf, (line) => lines.push(line), { chunk });
      expect(read).toEqual({ ok: true, lines: log.lines.length, verdict: true, stopped: false });
      expect(lines).toEqual(log.lines);
    }
  });

  it("should name the bad line and stop there, having handed on the lines before it", async () => {
    const rows = readFileSync(log.file, "utf8").split("\n");
    rows[9] = "{not json";
    const broken = join(dir, "broken.jsonl");
    writeFileSync(broken, rows.join("\n"));
    let seen = 0;
    const read = await streamLogFile(broken, () => seen++, { chunk: 64 });
    expect(read).toEqual({ ok: false, line: 10, message: `${broken}:10: not JSON` });
    expect(seen).toBe(9);
  });

  it("should say a log has no verdict when the run did not end", async () => {
    const rows = readFileSync(log.file, "utf8").trimEnd().split("\n");
    const cut = join(dir, "cut.jsonl");
    writeFileSync(cut, `${rows.slice(0, 20).join("\n")}\n`);
    expect(await streamLogFile(cut, () => {})).toEqual({
      ok: true,
      lines: 20,
      verdict: false,
      stopped: false,
    });
  });
});

describe("annotating and tracing a page one line at a time", () => {
  it("should forget old messages but keep the last ones", () => {
    const recent = new Recent<number>(3);
    for (const [i, key] of ["a", "b", "c", "d"].entries()) recent.set(key, i);
    expect([recent.get("a"), recent.get("b"), recent.get("d")]).toEqual([undefined, 1, 3]);
  });

  it("should attribute every line of a log repeated many times over as in one copy", () => {
    // Fifty copies, each with new ids: far more messages than the annotator remembers.
    const body = log.lines.filter((l) => l.type !== "header" && l.type !== "verdict");
    const copies: LogLine[] = [];
    for (let copy = 0; copy < 50; copy++) {
      const suffix = (id: string | undefined) => (id === undefined ? undefined : `${id}.${copy}`);
      for (const line of body) {
        const seq = "seq" in line ? line.seq + copy * body.length : 0;
        if (line.type === "msg")
          copies.push({
            ...line,
            seq,
            id: suffix(line.id)!,
            re: suffix(line.re),
            causedBy: suffix(line.causedBy),
          });
        else if (line.type === "effect") copies.push({ ...line, seq, causedBy: suffix(line.causedBy) });
        else copies.push({ ...line, seq } as LogLine);
      }
    }
    const once = annotate(body);
    const many = annotate(copies);
    expect(many.length).toBe(50 * once.length);
    const last = many.slice(-once.length);
    const kinds = (as: typeof once) => as.map((a) => [a.by, a.cause?.msg.type, a.request?.msg.type]);
    expect(kinds(last)).toEqual(kinds(once));
  });

  it("should hold no more timeline entries than asked, counting them all", () => {
    const whole = pageTimeline(log.lines, PAGE);
    const builder = new TimelineBuilder(PAGE, {}, () => 2 ** 47, 3);
    for (const a of annotate(log.lines)) builder.add(a);
    const capped = builder.finish();
    expect(capped.entries).toEqual(whole.entries.slice(0, 3));
    expect(builder.count).toBe(whole.entries.length);
  });
});

describe("keeping the log in memory", () => {
  const dma = BUILT_IN.find((s) => s.spec.name === "tdx/dma-alloc")!;

  it("should keep no lines with keepLog: false, and still give a scenario's check its log", async () => {
    const file = join(dir, "dma.jsonl");
    const kept = await runScenario(dma, { logFile: file });
    const dropped = await runScenario(dma, { logFile: file, keepLog: false });
    expect(kept.log.length).toBeGreaterThan(100);
    // tdx/dma-alloc's check reads the log (MapGPA, the host's reads): it passes either way.
    expect(dropped.unmet).toEqual([]);
    const read = parseLog(readFileSync(file, "utf8"), file);
    expect(read.ok && read.lines).toEqual(kept.log);
    const plain = defineScenario({
      name: "test/no-check",
      description: "accept 2M, no check of its own",
      platform: "tdx",
      guest: { memory: "4M", workload: [[{ op: "accept", gpa: "2M", size: "2M" }]] },
      expect: { outcome: "completed" },
    });
    const run = await runScenario(plain, { keepLog: false });
    expect(run.unmet).toEqual([]);
    expect(run.log).toEqual([]);
  });
});

describe("writing a log file", () => {
  const writer = fileURLToPath(new URL("../../src/runtime/log-writer.ts", import.meta.url));

  /** Run `body` in a node process with `log`, a FileLog on `file`; returns the file's lines. */
  function child(file: string, body: string): string[] {
    const code = `const { FileLog } = await import(${JSON.stringify(writer)});
const log = new FileLog(${JSON.stringify(file)});
const line = (seq) => ({ type: "rejected", seq, from: "host/kvm", reason: "x".repeat(100), raw: seq });
${body}`;
    const run = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
      encoding: "utf8",
    });
    expect(run.stderr).toBe("");
    const text = readFileSync(file, "utf8");
    expect(text === "" || text.endsWith("\n"), "only whole lines").toBe(true);
    return text.split("\n").filter((l) => l !== "");
  }

  it("should leave only whole lines when the process is killed mid-run", () => {
    const rows = child(
      join(dir, "killed.jsonl"),
      `for (let i = 0; i < 5000; i++) log.write(line(i));
process.kill(process.pid, "SIGKILL");`,
    );
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.map((row) => JSON.parse(row).seq)).toEqual(rows.map((_, i) => i));
  });

  it("should write what it holds when the process exits without closing it", () => {
    const rows = child(
      join(dir, "exited.jsonl"),
      "for (let i = 0; i < 10; i++) log.write(line(i));\nprocess.exit(0);",
    );
    expect(rows).toHaveLength(10);
  });

  it("should write held lines within a fraction of a second while the run waits", () => {
    const rows = child(
      join(dir, "waiting.jsonl"),
      `for (let i = 0; i < 3; i++) log.write(line(i));
setTimeout(() => process.kill(process.pid, "SIGKILL"), 400);`,
    );
    expect(rows).toHaveLength(3);
  });

  it("should stop where the consumer returns false, reading no further", async () => {
    const seen: number[] = [];
    const read = await streamLogFile(
      log.file,
      (_, lineNo) => {
        seen.push(lineNo);
        return lineNo < 3;
      },
      { chunk: 64 },
    );
    expect(read).toEqual({ ok: true, lines: 3, verdict: false, stopped: true });
    expect(seen).toEqual([1, 2, 3]);
  });
});
