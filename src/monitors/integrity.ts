// Integrity: a guest read of private memory returns what the guest last wrote there, zero after a
// legitimate accept, or the initial image. A zero the guest did not ask for (a page replaced and
// re-accepted behind its back: the silent zero page) is the guest's failure to track what it
// accepted; any other foreign content is the trusted entity's.
import { type Content, describeContent, sameContent } from "../../protocol/index.ts";
import type { LogLine } from "../../protocol/log.ts";
import type { Finding, Interest, Monitor } from "./monitor.ts";
import { isGuest, SharedBitTracker } from "./shared-bit.ts";

interface Expected {
  content: Content;
  seq: number;
}

const PAGE = 0x1000;

/**
 * TDX: foreign content is the module's failure, and a conversion gives fresh pages. pKVM: sharing
 * is in place (contents survive a round trip) and nobody zeroes donated or unshared pages, so
 * trusting what the host left there is the guest's failure (the corpus's attack A4).
 */
export type IntegrityContract = "tdx" | "pkvm";

export class IntegrityMonitor implements Monitor {
  readonly name = "integrity";
  readonly interests: readonly Interest[] = ["msg", "write", "zero", "guest-view", "read", "consumed"];
  private readonly sharedBit = new SharedBitTracker();
  /** Per private 4K GPA page: what a read must return. Absent: nothing legitimate yet. */
  private readonly expected = new Map<number, Expected>();
  /** Pages the guest's page tables mark shared (pKVM: the same IPA): reads are not checked. */
  private readonly shared = new Set<number>();

  constructor(private readonly contract: IntegrityContract) {}

  observe(line: LogLine, report: (f: Finding) => void): void {
    this.sharedBit.observe(line);
    if (line.type === "msg" && line.kind === "request" && line.msg.type === "TDG.VP.VMCALL<MapGPA>") {
      // TDX: a guest converting a range, either way, gives its pages up and gets fresh ones
      // (accepted, so zero, before its PTEs turn private again).
      if (!isGuest(line.from) || !("size" in line.msg)) return;
      const start = line.msg.gpa % this.sharedBit.value;
      for (let gpa = page(start); gpa < start + line.msg.size; gpa += PAGE) this.expected.delete(gpa);
      return;
    }
    if (line.type !== "effect") return;
    const e = line.effect;
    switch (e.e) {
      case "write":
        // Guest stores through its private alias, and the module's PAGE.ADD copy of the image.
        if (e.gpa !== undefined && !this.sharedBit.isShared(e.gpa) && (isGuest(e.by) || e.by === "fw")) {
          this.expected.set(page(e.gpa), { content: e.content, seq: line.seq });
        }
        return;
      case "zero":
        if (e.gpa === undefined || e.why !== "TDG.MEM.PAGE.ACCEPT") return;
        for (let i = 0; i < e.pages; i++) {
          const gpa = page(e.gpa) + i * PAGE;
          // Accepting over data the guest still holds is not legitimate: keep expecting the data.
          if (!this.expected.has(gpa)) this.expected.set(gpa, { content: { k: "zero" }, seq: line.seq });
        }
        return;
      case "guest-view":
        for (let gpa = page(e.gpa); gpa < e.gpa + e.size; gpa += PAGE) {
          if (e.view === "shared") this.shared.add(gpa);
          else this.shared.delete(gpa);
        }
        return;
      case "consumed":
        if (!sameContent(e.checked, e.used)) {
          report({
            invariant: "the guest uses what it checked",
            responsible: "guest",
            gpa: e.gpa,
            evidence: [line.seq],
            detail: `checked ${describeContent(e.checked)}, then used ${describeContent(e.used)} (double fetch from shared memory)`,
          });
        }
        return;
      case "read": {
        if (!isGuest(e.by) || e.gpa === undefined || this.sharedBit.isShared(e.gpa)) return;
        if (this.shared.has(page(e.gpa))) return;
        const want = this.expected.get(page(e.gpa));
        if (want && sameContent(want.content, e.content)) return;
        // pKVM: fresh (zero-filled) memory the guest never wrote is what a donation looks like.
        if (this.contract === "pkvm" && !want && e.content.k === "zero") return;
        const silentZero = e.content.k === "zero" && want !== undefined;
        report({
          invariant: silentZero ? "no silent zero page" : "guest reads what it wrote",
          responsible: silentZero || this.contract === "pkvm" ? "guest" : "fw",
          gpa: e.gpa,
          hpa: e.hpa,
          evidence: want ? [want.seq, line.seq] : [line.seq],
          detail: `read ${describeContent(e.content)}, expected ${want ? describeContent(want.content) : "nothing readable"}`,
        });
        return;
      }
      default:
        return;
    }
  }
}

const page = (gpa: number) => gpa - (gpa % PAGE);
