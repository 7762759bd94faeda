import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ViolationLine } from "../../protocol/log.ts";
import { toMermaid } from "../../src/log/mermaid.ts";
import { annotate, filterLog } from "../../src/log/query.ts";
import { type ConvertLog, convertLog, PAGE } from "./fixture.ts";

let log: ConvertLog;
beforeAll(async () => {
  log = await convertLog();
});
afterAll(() => log.dispose());

const arrows = (diagram: string): string[] => diagram.split("\n").filter((l) => /->>|-->>/.test(l));

describe("mermaid sequence diagrams", () => {
  it("should declare the participants guest to trusted, left to right", () => {
    const lines = toMermaid(annotate(log.lines)).split("\n");
    expect(lines.slice(0, 6)).toEqual([
      "sequenceDiagram",
      "  participant guest_vcpu0 as guest/vcpu0",
      "  participant host_vmm as host/vmm",
      "  participant host_kvm as host/kvm",
      "  participant fw as fw",
      "  participant hw as hw",
    ]);
  });

  it("should draw requests and responses with their key fields", () => {
    const diagram = toMermaid(filterLog(log.lines, { gpa: PAGE }));
    expect(diagram.startsWith("sequenceDiagram\n")).toBe(true);
    const lines = diagram.split("\n");
    expect(lines).toContain("  host_kvm->>fw: TDH.MEM.PAGE.AUG gpa=0x200000");
    expect(lines).toContain("  guest_vcpu0->>fw: TDG.MEM.PAGE.ACCEPT gpa=0x200000");
    expect(lines).toContain("  fw-->>host_kvm: TDH.VP.ENTER TDX_SUCCESS EPT_VIOLATION gpa=0x200000");
    expect(lines).toContain("  guest_vcpu0->>fw: TDG.VP.VMCALL#60;MapGPA> gpa=0x800000200000");
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}host_kvm->>hw: ept\.map gpa=0x800000200000$/));
    expect(lines).toContain("  hw-->>guest_vcpu0: guest.access ok");
    const responses = toMermaid(filterLog(log.lines, { type: "TDH.MEM.PAGE.AUG" })).split("\n");
    expect(responses).toContain("  fw-->>host_kvm: TDH.MEM.PAGE.AUG TDX_SUCCESS");
    expect(diagram).not.toContain("Note over");
  });

  it("should cap the number of messages and say so", () => {
    const all = annotate(log.lines);
    const total = all.filter(({ line }) => line.type === "msg").length;
    const diagram = toMermaid(all, { limit: 10 });
    expect(arrows(diagram)).toHaveLength(10);
    // The first ten messages never reach hw: the notes span the participants drawn. The verdict,
    // the log's last line, is drawn whatever the limit.
    expect(diagram.split("\n").slice(-2)).toEqual([
      `  Note over guest_vcpu0,fw: truncated after 10 messages, ${total - 10} more (--limit)`,
      "  Note over guest_vcpu0,fw: verdict completed: workload complete, VM torn down",
    ]);
    expect(toMermaid(all)).not.toContain("truncated");
    expect(toMermaid(all).split("\n").at(-1)).toBe(
      "  Note over guest_vcpu0,hw: verdict completed: workload complete, VM torn down",
    );
  });

  it("should draw effects as notes over the actor, and violations over the responsible party", () => {
    const violation: ViolationLine = {
      type: "violation",
      seq: 9999,
      monitor: "sanitisation",
      invariant: "frame-zeroed-before-reuse",
      responsible: "host",
      gpa: PAGE,
      evidence: [1],
      detail: "frame not cleared; see #1",
    };
    const diagram = toMermaid(filterLog([...log.lines, violation], { gpa: PAGE }), { effects: true });
    const lines = diagram.split("\n");
    expect(lines).toContainEqual(
      expect.stringMatching(/^ {2}Note over fw: S-EPT 4K 0x200000: FREE -> PENDING hpa=0x/),
    );
    const zeroes = toMermaid(filterLog(log.lines, { party: "host", type: "zero" }), { effects: true });
    expect(zeroes.split("\n")).toContainEqual(
      expect.stringMatching(
        /^ {2}Note over host_kvm: zero hpa=0x[0-9a-f]+ x1 \(movdir64b, tdx_clear_page, key 0\)$/,
      ),
    );
    expect(lines.at(-1)).toBe(
      "  Note over host_vmm,host_kvm: VIOLATION frame-zeroed-before-reuse: frame not cleared#59; see #35;1",
    );
  });
});
