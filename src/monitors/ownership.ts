// Ownership: one owner per physical page (PAMT, pKVM's host/guest ownership), and no physical page
// mapped at two private GPAs (a TD's S-EPT leaves, a protected VM's stage-2 pages).
import type { LogLine } from "../../protocol/log.ts";
import type { Finding, Interest, Monitor } from "./monitor.ts";
import { pfn } from "./shared-bit.ts";

export class OwnershipMonitor implements Monitor {
  readonly name = "ownership";
  readonly interests: readonly Interest[] = ["owner", "sept", "stage2"];
  private readonly owned = new Map<number, number>();
  /**
   * Private leaves, by frame: the GPA page it backs, and the seq of the line that mapped it. Two
   * maps of small integers rather than one of objects: a million-page guest has a million leaves.
   */
  private readonly mappedGpa = new Map<number, number>();
  private readonly mappedSeq = new Map<number, number>();

  observe(line: LogLine, report: (f: Finding) => void): void {
    if (line.type !== "effect") return;
    const e = line.effect;
    if (e.e === "owner") {
      for (let i = 0; i < e.pages; i++) {
        const frame = pfn(e.hpa) + i;
        if (e.to === "host") {
          this.owned.delete(frame);
          continue;
        }
        const earlier = this.owned.get(frame);
        if (earlier !== undefined) {
          report({
            invariant: "one owner per physical page",
            responsible: "fw",
            hpa: frame * 0x1000,
            evidence: [earlier, line.seq],
            detail: "a page already owned by the TD was assigned again",
          });
        }
        this.owned.set(frame, line.seq);
      }
      return;
    }
    const leaf = leafChange(e);
    if (!leaf) return;
    for (let i = 0; i < leaf.pages; i++) {
      const frame = pfn(leaf.hpa) + i;
      const gpa = leaf.gpa + i * 0x1000;
      if (!leaf.mapped) {
        this.mappedGpa.delete(frame);
        this.mappedSeq.delete(frame);
        continue;
      }
      if (!leaf.fresh) continue;
      const other = this.mappedGpa.get(frame);
      if (other !== undefined && other !== pfn(gpa)) {
        report({
          invariant: "no physical page backs two private GPAs",
          responsible: "fw",
          gpa,
          hpa: frame * 0x1000,
          evidence: [this.mappedSeq.get(frame)!, line.seq],
          detail: `frame already maps GPA 0x${(other * 0x1000).toString(16)}`,
        });
      }
      this.mappedGpa.set(frame, pfn(gpa));
      this.mappedSeq.set(frame, line.seq);
    }
  }
}

/** pKVM guest pages with a frame behind them (a protected VM's stage-2, mem_protect.c). */
const STAGE2_BACKED = new Set(["PKVM_PAGE_OWNED", "PKVM_PAGE_SHARED_OWNED"]);

/** A leaf mapping a frame at a GPA: whether it maps one now, and whether it did not before. */
function leafChange(
  e: Extract<LogLine, { type: "effect" }>["effect"],
): { hpa: number; gpa: number; pages: number; mapped: boolean; fresh: boolean } | undefined {
  if ((e.e !== "sept" && e.e !== "stage2") || e.hpa === undefined) return undefined;
  const pages = e.level === 1 ? 512 : 1;
  if (e.e === "sept") {
    if (e.from.startsWith("NL_") || e.to.startsWith("NL_")) return undefined;
    return { hpa: e.hpa, gpa: e.gpa, pages, mapped: e.to !== "FREE", fresh: e.from === "FREE" };
  }
  return {
    hpa: e.hpa,
    gpa: e.gpa,
    pages,
    mapped: STAGE2_BACKED.has(e.to),
    fresh: !STAGE2_BACKED.has(e.from),
  };
}
