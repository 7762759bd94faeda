// Ownership: one owner per physical page (PAMT), and no physical page mapped at two private GPAs.
import type { LogLine } from "../../protocol/log.ts";
import type { Finding, Interest, Monitor } from "./monitor.ts";
import { pfn } from "./shared-bit.ts";

export class OwnershipMonitor implements Monitor {
  readonly name = "ownership";
  readonly interests: readonly Interest[] = ["owner", "sept"];
  private readonly owned = new Map<number, number>();
  /** Private leaves: frame -> GPA it backs. */
  private readonly mappedAt = new Map<number, { gpa: number; seq: number }>();

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
    if (e.e !== "sept" || e.hpa === undefined || e.from.startsWith("NL_") || e.to.startsWith("NL_")) return;
    const pages = e.level === 1 ? 512 : 1;
    for (let i = 0; i < pages; i++) {
      const frame = pfn(e.hpa) + i;
      const gpa = e.gpa + i * 0x1000;
      if (e.to === "FREE") {
        this.mappedAt.delete(frame);
        continue;
      }
      if (e.from !== "FREE") continue;
      const other = this.mappedAt.get(frame);
      if (other && other.gpa !== gpa) {
        report({
          invariant: "no physical page backs two private GPAs",
          responsible: "fw",
          gpa,
          hpa: frame * 0x1000,
          evidence: [other.seq, line.seq],
          detail: `frame already maps GPA 0x${other.gpa.toString(16)}`,
        });
      }
      this.mappedAt.set(frame, { gpa, seq: line.seq });
    }
  }
}
