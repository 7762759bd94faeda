import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseLog, readLogFile } from "../../src/log/read.ts";
import { type ConvertLog, convertLog } from "./fixture.ts";

let log: ConvertLog;
beforeAll(async () => {
  log = await convertLog();
});
afterAll(() => log.dispose());

const HEADER =
  '{"type":"header","format":2,"cocomem":"0.5.0","scenario":"s","platform":"tdx","profile":"tdx-1.5+linux-7.0","seed":1,"transport":"inproc","options":{}}';
const OLD_HEADER =
  '{"type":"header","format":1,"cocomem":"0.4.0","scenario":"s","platform":"tdx","seed":1,"transport":"inproc","options":{}}';
const AUG =
  '{"type":"msg","seq":0,"id":"a","from":"host/kvm","to":"fw","kind":"request","msg":{"type":"TDH.MEM.PAGE.AUG","gpa":2097152,"level":0,"hpa":4096}}';

describe("reading a log", () => {
  it("should read back exactly the lines the run wrote", () => {
    expect(log.lines.length).toBeGreaterThan(100);
    expect(log.lines).toEqual(log.expected);
    expect(log.lines[0]!.type).toBe("header");
    expect(log.lines.at(-1)!.type).toBe("verdict");
  });

  it("should skip blank lines, including the final newline", () => {
    const read = parseLog(`${HEADER}\n\n${AUG}\n`);
    expect(read.ok && read.lines.map((l) => l.type)).toEqual(["header", "msg"]);
  });

  it("should say which format an older log is in and which one this cocomem reads", () => {
    const read = parseLog(`${OLD_HEADER}\n${AUG}\n`, "old.jsonl");
    expect(read).toEqual({
      ok: false,
      line: 1,
      message:
        "old.jsonl:1: a log in format 1 (written by cocomem 0.4.0); this cocomem reads format 2: run the scenario again to get a log it can read",
    });
  });

  it("should refuse an effect whose state names are not the model's (typed effects)", () => {
    const read = parseLog(
      `${HEADER}\n{"type":"effect","seq":1,"effect":{"e":"sept","by":"fw","gpa":0,"level":0,"from":"FREE","to":"MAPED"}}`,
    );
    expect(!read.ok && read.message).toMatch(/^log:2: invalid log line: effect\.to: /);
  });

  it("should name the line that is not JSON", () => {
    const read = parseLog(`${HEADER}\n${AUG}\n{"type":"msg",\n`, "run.jsonl");
    expect(read).toEqual({ ok: false, line: 3, message: "run.jsonl:3: not JSON" });
  });

  it("should name the line and field that break the LogLine schema", () => {
    const read = parseLog(
      `${HEADER}\n{"type":"effect","seq":1,"effect":{"e":"sept","by":"fw","gpa":"x","level":0,"from":"A","to":"B"}}`,
    );
    expect(read.ok).toBe(false);
    expect(!read.ok && read.line).toBe(2);
    expect(!read.ok && read.message).toMatch(/^log:2: invalid log line: effect\.gpa: /);
  });

  it("should check a message payload against its own protocol schema", () => {
    const read = parseLog(AUG.replace('"level":0,', ""));
    expect(!read.ok && read.message).toMatch(/^log:1: invalid TDH\.MEM\.PAGE\.AUG request: level: /);
    const unknown = parseLog(AUG.replace("TDH.MEM.PAGE.AUG", "TDH.MEM.PAGE.NOPE"));
    expect(!unknown.ok && unknown.message).toBe('log:1: unknown request type "TDH.MEM.PAGE.NOPE"');
  });

  it("should report a missing file as a result naming it, not throw", async () => {
    const read = await readLogFile(`${log.file}.missing`);
    expect(read.ok).toBe(false);
    expect(!read.ok && read.line).toBeUndefined();
    expect(!read.ok && read.message).toContain(`${log.file}.missing: cannot read: ENOENT`);
  });
});
