import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EffectLine } from "../../protocol/index.ts";
import {
  formatTimeline,
  type PageTimeline,
  pageTimeline,
  type TimelineEntry,
} from "../../src/log/timeline.ts";
import { type ConvertLog, convertLog, OTHER_PAGE, PAGE, SHARED_PAGE } from "./fixture.ts";

let log: ConvertLog;
let timeline: PageTimeline;
beforeAll(async () => {
  log = await convertLog();
  timeline = pageTimeline(log.lines, PAGE);
});
afterAll(() => log.dispose());

const isEffect = (e: TimelineEntry, kind: string): boolean =>
  e.line.type === "effect" && e.line.effect.e === kind;
/** Cause without its seq: "host/kvm TDH.MEM.PAGE.AUG". */
const causeOf = (e: TimelineEntry): string => (e.cause ?? "").replace(/ #\d+$/, "");

describe("the timeline of a page converted to shared and back", () => {
  it("should list the 4K S-EPT transitions in order, each with the module acting for the right caller", () => {
    const leaf = timeline.entries.filter(
      (e) =>
        isEffect(e, "sept") &&
        e.line.type === "effect" &&
        "level" in e.line.effect &&
        e.line.effect.level === 0,
    );
    const steps = leaf.map((e) => `${e.text.replace(/ hpa=.*/, "")} | ${e.by} | ${causeOf(e)}`);
    const lifetime = [
      "S-EPT 4K 0x200000: FREE -> PENDING | fw | host/kvm TDH.MEM.PAGE.AUG",
      "S-EPT 4K 0x200000: PENDING -> MAPPED | fw | guest/vcpu0 TDG.MEM.PAGE.ACCEPT",
      "S-EPT 4K 0x200000: MAPPED -> BLOCKED | fw | host/kvm TDH.MEM.RANGE.BLOCK",
      "S-EPT 4K 0x200000: BLOCKED -> FREE | fw | host/kvm TDH.MEM.PAGE.REMOVE",
    ];
    // Private, converted to shared; private again after the conversion back; removed at teardown.
    expect(steps).toEqual([...lifetime, ...lifetime]);
  });

  it("should show the host's MOVDIR64B clear of the removed frame, found by hpa alone", () => {
    const removed = timeline.entries.find((e) => e.text.includes("BLOCKED -> FREE"))!;
    const toShared = timeline.entries.find((e) => e.text === "attributes 0x200000+0x1000 -> shared")!;
    const clears = timeline.entries.filter(
      (e) => isEffect(e, "zero") && e.by === "host/kvm" && e.text.includes("(movdir64b, tdx_clear_page"),
    );
    expect(clears).toHaveLength(2);
    expect(clears[0]!.seq).toBeGreaterThan(removed.seq);
    expect(clears[0]!.seq).toBeLessThan(toShared.seq);
    const clear = clears[0]!.line;
    expect(clear.type === "effect" && "gpa" in clear.effect).toBe(false);
    expect(causeOf(clears[0]!)).toBe("host/kvm host.access");
  });

  it("should follow the page through its shared alias: shared EPT map and zap, the guest's shared write", () => {
    const texts = timeline.entries.map((e) => e.text);
    expect(texts.filter((t) => t.startsWith("shared EPT"))).toEqual([
      expect.stringMatching(/^shared EPT map 0x800000200000 -> hpa=0x[0-9a-f]+$/),
      "shared EPT zap 0x800000200000 -> hpa=0x100002000",
    ]);
    const writes = timeline.entries.filter((e) => isEffect(e, "write"));
    expect(writes.map((e) => [e.by, e.text.replace(/hpa=0x[0-9a-f]+ /, "")])).toEqual([
      ["guest/vcpu0", "write gpa=0x200000: guest:s1(secret)"],
      ["guest/vcpu0", "write gpa=0x800000200000: guest:pub"],
    ]);
    expect(
      timeline.entries.filter((e) => isEffect(e, "gmem")).map((e) => e.text.split(" ").slice(0, 2)),
    ).toEqual([
      ["guest_memfd", "alloc"],
      ["guest_memfd", "free"],
      ["guest_memfd", "alloc"],
    ]);
  });

  it("should give the same timeline for the shared alias and leave out the neighbouring page", () => {
    expect(pageTimeline(log.lines, SHARED_PAGE)).toEqual(timeline);
    const other = pageTimeline(log.lines, OTHER_PAGE);
    const otherSeqs = new Set(other.entries.filter((e) => isEffect(e, "sept")).map((e) => e.seq));
    const leafHere = timeline.entries.filter((e) => isEffect(e, "sept") && e.text.startsWith("S-EPT 4K"));
    expect(leafHere.some((e) => otherSeqs.has(e.seq))).toBe(false);
  });

  it("should keep only entries passing a filter", () => {
    const host = pageTimeline(log.lines, PAGE, { party: "host", type: "zero" });
    expect(host.entries.length).toBeGreaterThanOrEqual(4);
    expect(host.entries.every((e) => e.by === "host/kvm" && e.text.startsWith("zero "))).toBe(true);
  });

  it("should add the calls that started the page's lines, the VM's lifecycle and the verdict", () => {
    const msgs = log.lines.filter((l) => l.type === "msg");
    const request = (type: string) => msgs.find((m) => m.kind === "request" && m.msg.type === type)!;
    const ledTo = (seq: number) => timeline.entries.find((e) => e.seq === seq)?.ledTo;
    // The VMM's punch names a guest_memfd offset, not a GPA: it is here for the free it caused.
    const punch = request("fallocate");
    const free = log.lines.find((l): l is EffectLine => l.type === "effect" && l.causedBy === punch.id)!;
    expect(free.effect.e).toBe("gmem");
    expect(ledTo(punch.seq)).toBe(free.seq);
    // Teardown: the guest halts, the VMM destroys the VM, KVM blocks the page first.
    const block = msgs.find(
      (m) =>
        m.seq > request("KVM_DESTROY_VM").seq && m.msg.type === "TDH.MEM.RANGE.BLOCK" && m.kind === "request",
    )!;
    expect(ledTo(request("TDG.VP.VMCALL<Instruction.HLT>").seq)).toBe(block.seq);
    expect(ledTo(request("KVM_DESTROY_VM").seq)).toBe(block.seq);
    expect(timeline.entries.find((e) => e.seq === block.seq)?.text).toBe(
      "TDH.MEM.RANGE.BLOCK request -> fw gpa=0x200000 level=4K",
    );
    // The guest's own calls are entries already, never started by an earlier one.
    expect(ledTo(request("TDG.MEM.PAGE.ACCEPT").seq)).toBeUndefined();
    const lifecycle = log.lines
      .filter((l): l is EffectLine => l.type === "effect" && l.effect.e === "lifecycle")
      .map((l) => l.seq);
    expect(lifecycle.length).toBeGreaterThanOrEqual(4);
    expect(timeline.entries.filter((e) => isEffect(e, "lifecycle")).map((e) => e.seq)).toEqual(lifecycle);
    const verdict = log.lines.at(-1)!;
    expect(timeline.verdict).toEqual({
      seq: verdict.type === "verdict" ? verdict.seq : -1,
      by: "verdict",
      text: "completed: workload complete, VM torn down",
      line: verdict,
    });
    expect(timeline.entries.map((e) => e.seq)).toEqual(
      timeline.entries.map((e) => e.seq).sort((a, b) => a - b),
    );
  });

  it("should print one line per entry with seq, actor, description and cause", () => {
    const text = formatTimeline(timeline);
    expect(text[0]).toBe(`page 0x200000 (${timeline.entries.length} entries)`);
    expect(text).toContainEqual(
      expect.stringMatching(
        /^ +\d+ {2}fw +S-EPT 4K 0x200000: PENDING -> MAPPED hpa=0x[0-9a-f]+ {2}\[guest\/vcpu0 TDG\.MEM\.PAGE\.ACCEPT #\d+\]$/,
      ),
    );
    expect(text).toContainEqual(
      expect.stringMatching(
        /^ +\d+ {2}host\/kvm +guest_memfd alloc gpa=0x200000 hpa=0x[0-9a-f]+ {2}.*=> backed by 0x/,
      ),
    );
  });
});

describe("the timeline of a pKVM page shared and unshared", () => {
  it("should list the stage-2 transitions of the page (0.6.0 left them out), donation to teardown", async () => {
    const { runScenario } = await import("../../src/run/run.ts");
    const { findBuiltIn } = await import("../../src/scenarios/index.ts");
    const run = await runScenario(findBuiltIn("pkvm/share-unshare")!, { keepLog: true });
    const stage2 = pageTimeline(run.log, 0x100000)
      .entries.filter((e) => isEffect(e, "stage2"))
      .map((e) => e.text.replace(/ hpa=.*/, ""));
    expect(stage2).toEqual([
      "stage-2 4K 0x100000: PKVM_NOPAGE -> PKVM_PAGE_OWNED",
      "stage-2 4K 0x100000: PKVM_PAGE_OWNED -> PKVM_PAGE_SHARED_OWNED",
      "stage-2 4K 0x100000: PKVM_PAGE_SHARED_OWNED -> PKVM_PAGE_OWNED",
      "stage-2 4K 0x100000: PKVM_PAGE_OWNED -> PKVM_NOPAGE",
    ]);
  });
});
