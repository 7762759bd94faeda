import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LogLine } from "../../protocol/log.ts";
import { annotate, filterLog, formatLine, typeMatches } from "../../src/log/query.ts";
import { type ConvertLog, convertLog, OTHER_PAGE, PAGE, SHARED_PAGE } from "./fixture.ts";

let log: ConvertLog;
beforeAll(async () => {
  log = await convertLog();
});
afterAll(() => log.dispose());

const seqs = (lines: readonly { line: LogLine }[]): number[] =>
  lines.map(({ line }) => ("seq" in line ? line.seq : -1));
const msgTypes = (lines: readonly { line: LogLine }[]): string[] =>
  lines.flatMap(({ line }) => (line.type === "msg" ? [line.msg.type] : []));

describe("log filters", () => {
  it("should keep only lines of the party: messages from or to it, effects by it", () => {
    const guest = filterLog(log.lines, { party: "guest" });
    expect(guest.length).toBeGreaterThan(10);
    for (const { line, by } of guest) {
      if (line.type === "msg") expect([line.from, line.to].some((a) => a.startsWith("guest/"))).toBe(true);
      else expect(by).toMatch(/^guest\//);
    }
    expect(msgTypes(guest)).toContain("TDG.MEM.PAGE.ACCEPT");
    expect(msgTypes(guest)).not.toContain("KVM_RUN");
    // S-EPT changes are the module's, even when a guest ACCEPT asked for them.
    const trusted = filterLog(log.lines, { party: "trusted", type: "sept" });
    expect(trusted.length).toBeGreaterThan(0);
    expect(trusted.every(({ by }) => by === "fw")).toBe(true);
  });

  it("should match message types exactly or by a prefix ending at a dot", () => {
    const mem = msgTypes(filterLog(log.lines, { type: "TDH.MEM" }));
    expect(new Set(mem)).toEqual(
      new Set([
        "TDH.MEM.SEPT.ADD",
        "TDH.MEM.PAGE.AUG",
        "TDH.MEM.RANGE.BLOCK",
        "TDH.MEM.TRACK",
        "TDH.MEM.PAGE.REMOVE",
      ]),
    );
    expect(filterLog(log.lines, { type: "TDH.ME" })).toEqual([]);
    expect(typeMatches("TDG.VP.VMCALL<MapGPA>", "TDG.VP.VMCALL")).toBe(true);
    expect(typeMatches("TDH.MEMX", "TDH.MEM")).toBe(false);
    expect(typeMatches("TDH.MEM.PAGE.AUG", "TDH.MEM.")).toBe(true);
    expect(typeMatches("__pkvm_host_share_hyp", "__pkvm_host")).toBe(true);
    expect(typeMatches("__pkvm_host_share_hyp", "__pkvm_host_")).toBe(true);
    expect(typeMatches("__pkvm_host_share_hyp", "__pkvm_ho")).toBe(false);
    expect(typeMatches("TDH.MEM.PAGE.AUG", "TDH.ME")).toBe(false);
  });

  it("should find a page through its shared alias as well as its private GPA", () => {
    const viaPrivate = filterLog(log.lines, { gpa: PAGE });
    const viaShared = filterLog(log.lines, { gpa: SHARED_PAGE });
    expect(seqs(viaShared)).toEqual(seqs(viaPrivate));
    const ept = viaPrivate.flatMap(({ line }) =>
      line.type === "effect" && line.effect.e === "ept" ? [line.effect.gpa] : [],
    );
    expect(ept).toEqual([SHARED_PAGE, SHARED_PAGE]);
    // An address inside the page selects the page.
    expect(seqs(filterLog(log.lines, { gpa: PAGE + 0x123 }))).toEqual(seqs(viaPrivate));
    // Nothing that names only the neighbouring page.
    const other = new Set(seqs(filterLog(log.lines, { gpa: OTHER_PAGE, type: "TDH.MEM.PAGE.AUG" })));
    expect(other.size).toBe(2); // the request and its response
    expect(seqs(viaPrivate).some((s) => other.has(s))).toBe(false);
  });

  it("should select a frame by the hpa fields of messages and effects", () => {
    const aug = log.lines.find(
      (l): l is Extract<LogLine, { type: "msg" }> =>
        l.type === "msg" && l.msg.type === "TDH.MEM.PAGE.AUG" && "gpa" in l.msg && l.msg.gpa === PAGE,
    )!;
    const hpa = "hpa" in aug.msg ? (aug.msg.hpa as number) : -1;
    const frame = filterLog(log.lines, { hpa: hpa + 0x800 });
    const kinds = frame.map(({ line }) => (line.type === "effect" ? line.effect.e : line.type));
    expect(kinds).toContain("owner");
    expect(kinds).toContain("zero");
    const movdir = filterLog(log.lines, { hpa, type: "host.access", party: "host" });
    expect(movdir.map(({ line }) => line.type === "msg" && "op" in line.msg && line.msg.op)).toContain(
      "movdir64b",
    );
  });

  it("should combine filters with AND", () => {
    const only = filterLog(log.lines, { party: "host", type: "TDH.MEM.PAGE.AUG", gpa: OTHER_PAGE });
    // The request names the page; its response is about the same page.
    expect(only.map(formatLine)).toEqual([
      expect.stringMatching(
        /^ +\d+ {2}host\/kvm -> fw {2}request {2}TDH\.MEM\.PAGE\.AUG gpa=0x201000 level=4K hpa=0x[0-9a-f]+$/,
      ),
      expect.stringMatching(
        /^ +\d+ {2}fw -> host\/kvm {2}response {2}TDH\.MEM\.PAGE\.AUG status=TDX_SUCCESS$/,
      ),
    ]);
    expect(filterLog(log.lines, { party: "guest", type: "TDH.MEM.PAGE.AUG" })).toEqual([]);
  });
});

describe("attribution", () => {
  it("should credit an S-EPT change under TDH.VP.ENTER to the guest call it completes", () => {
    const mapped = annotate(log.lines).filter(
      ({ line }) =>
        line.type === "effect" &&
        line.effect.e === "sept" &&
        line.effect.gpa === PAGE &&
        line.effect.to === "MAPPED",
    );
    expect(mapped).toHaveLength(2);
    for (const { by, cause } of mapped) {
      expect(by).toBe("fw");
      expect(cause?.from).toBe("guest/vcpu0");
      expect(cause?.msg.type).toBe("TDG.MEM.PAGE.ACCEPT");
    }
  });
});
