// Sanitisation, pKVM contract ("who zeroes what"): the hypervisor poisons (zeroes) every page that
// leaves a protected guest's ownership (teardown, forced reclaim, relinquish) before the host gets
// it; a page the guest had shared goes back as it is; donation and sharing zero nothing (the guest
// must, and the integrity and confidentiality monitors hold it to that).
import type { LogLine } from "../../protocol/log.ts";
import type { Finding, Interest, Monitor } from "./monitor.ts";
import { pfn } from "./shared-bit.ts";

export class PkvmSanitisationMonitor implements Monitor {
  readonly name = "sanitisation";
  readonly interests: readonly Interest[] = ["owner", "zero", "write"];
  /** Frames the guest owns. */
  private readonly owned = new Set<number>();
  /** Guest-owned frames whose current contents the hypervisor has not zeroed: pfn -> seq. */
  private readonly unscrubbed = new Map<number, number>();

  observe(line: LogLine, report: (f: Finding) => void): void {
    if (line.type !== "effect") return;
    const e = line.effect;
    switch (e.e) {
      case "owner": {
        const frame = pfn(e.hpa);
        if (e.from === "host" && e.to === "guest") {
          this.owned.add(frame);
          this.unscrubbed.set(frame, line.seq);
        }
        if (e.from !== "guest" || e.to !== "host") return;
        const since = this.unscrubbed.get(frame);
        this.owned.delete(frame);
        this.unscrubbed.delete(frame);
        if (e.guestState === "PKVM_PAGE_OWNED" && since !== undefined) {
          report({
            invariant: "a guest-owned page is zeroed by the hypervisor before the host gets it back",
            responsible: "fw",
            hpa: e.hpa,
            evidence: [since, line.seq],
            detail: "returned to the host without hyp_poison_page",
          });
        }
        return;
      }
      case "zero":
        if (e.by === "fw") for (let i = 0; i < e.pages; i++) this.unscrubbed.delete(pfn(e.hpa) + i);
        return;
      case "write":
        if (this.owned.has(pfn(e.hpa))) this.unscrubbed.set(pfn(e.hpa), line.seq);
        return;
      default:
        return;
    }
  }
}
