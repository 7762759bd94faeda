// Integrity: a guest read of private memory returns what the guest last wrote there, zero after a
// legitimate accept, or the initial image. A zero the guest did not ask for (a page replaced and
// re-accepted behind its back: the silent zero page) is the guest's failure to track what it
// accepted; any other foreign content is the trusted entity's.
import { type Content, describeContent, sameContent } from "../../protocol/index.ts";
import type { LogLine } from "../../protocol/log.ts";
import { RangeSet } from "../kit/range-set.ts";
import type { Finding, Interest, Monitor } from "./monitor.ts";
import { isGuest, SharedBitTracker } from "./shared-bit.ts";

interface Expected {
  content: Content;
  seq: number;
}

const PAGE = 0x1000;
const ZERO: Content = Object.freeze({ k: "zero" });

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
  /**
   * Per private 4K GPA page, by page number (a small integer, where a GPA above 2 GiB would be a
   * boxed number): what a read must return. Absent: nothing legitimate yet. Zero after an accept,
   * by far the commonest, is only the seq of the accept: a 1 TiB guest may have millions of them.
   */
  private readonly expected = new Map<number, Expected | number>();
  /** GPAs the guest's page tables mark shared (pKVM: the same IPA): reads are not checked. */
  private readonly shared = new RangeSet();

  constructor(private readonly contract: IntegrityContract) {}

  observe(line: LogLine, report: (f: Finding) => void): void {
    this.sharedBit.observe(line);
    if (line.type === "msg" && line.kind === "request" && line.msg.type === "TDG.VP.VMCALL<MapGPA>") {
      // TDX: a guest converting a range, either way, gives its pages up and gets fresh ones
      // (accepted, so zero, before its PTEs turn private again).
      if (!isGuest(line.from) || !("size" in line.msg)) return;
      const start = line.msg.gpa % this.sharedBit.value;
      this.forget(pageOf(start), pageOf(start + line.msg.size + PAGE - 1));
      return;
    }
    if (line.type !== "effect") return;
    const e = line.effect;
    switch (e.e) {
      case "write":
        // Guest stores through its private alias, and the module's PAGE.ADD copy of the image.
        if (e.gpa !== undefined && !this.sharedBit.isShared(e.gpa) && (isGuest(e.by) || e.by === "fw")) {
          this.expected.set(pageOf(e.gpa), { content: e.content, seq: line.seq });
        }
        return;
      case "zero":
        if (e.gpa === undefined || e.why !== "TDG.MEM.PAGE.ACCEPT") return;
        for (let i = 0, at = pageOf(e.gpa); i < e.pages; i++) {
          // Accepting over data the guest still holds is not legitimate: keep expecting the data.
          if (!this.expected.has(at + i)) this.expected.set(at + i, line.seq);
        }
        return;
      case "guest-view":
        // Whole pages: from the one holding the first byte to the one holding the last.
        if (e.view === "shared") this.shared.add(page(e.gpa), page(e.gpa + e.size + PAGE - 1));
        else this.shared.remove(page(e.gpa), page(e.gpa + e.size + PAGE - 1));
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
        const want = this.expectation(pageOf(e.gpa));
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

  private expectation(page: number): Expected | undefined {
    const want = this.expected.get(page);
    return typeof want === "number" ? { content: ZERO, seq: want } : want;
  }

  /** Drop the expectations of pages [first, end): a walk of the range or of the map, the shorter. */
  private forget(first: number, end: number): void {
    if (end - first <= this.expected.size) {
      for (let p = first; p < end; p++) this.expected.delete(p);
      return;
    }
    for (const p of this.expected.keys()) if (p >= first && p < end) this.expected.delete(p);
  }
}

const page = (gpa: number) => gpa - (gpa % PAGE);
const pageOf = (gpa: number) => Math.floor(gpa / PAGE);
