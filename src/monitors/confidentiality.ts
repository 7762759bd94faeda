// Confidentiality: the host never observes guest-secret plaintext. Responsible: the guest if it
// put the secret in shared memory itself; otherwise the trusted entity that let it out.
import type { LogLine } from "../../protocol/log.ts";
import type { Finding, Interest, Monitor } from "./monitor.ts";
import { isGuest, isHost, pfn, SharedBitTracker } from "./shared-bit.ts";

export class ConfidentialityMonitor implements Monitor {
  readonly name = "confidentiality";
  readonly interests: readonly Interest[] = ["msg", "write", "read", "stage2"];
  /** Frames the guest shared in place (pKVM MEM_SHARE): whatever it left there is its own doing. */
  private readonly sharedInPlace = new Set<number>();
  private readonly sharedBit = new SharedBitTracker();
  /** Per frame: seq of the guest write that put a secret there, and whether it went through a shared alias. */
  private readonly secrets = new Map<number, { seq: number; viaShared: boolean }>();

  observe(line: LogLine, report: (f: Finding) => void): void {
    this.sharedBit.observe(line);
    if (line.type !== "effect") return;
    const e = line.effect;
    if (e.e === "stage2") {
      // Shared stays shared until the guest owns the frame again: a shared page reclaimed at
      // teardown comes back unpoisoned (only PKVM_PAGE_OWNED pages are; reclaim_dying_guest_page,
      // android16-6.12), so what the guest left in it is still its own leak.
      if (e.to === "PKVM_PAGE_SHARED_OWNED") this.sharedInPlace.add(pfn(e.hpa));
      else if (e.to === "PKVM_PAGE_OWNED") this.sharedInPlace.delete(pfn(e.hpa));
      return;
    }
    if (e.e === "write" && isGuest(e.by)) {
      if (e.content.k === "data" && e.content.secret) {
        this.secrets.set(pfn(e.hpa), {
          seq: line.seq,
          viaShared: e.gpa !== undefined && this.sharedBit.isShared(e.gpa),
        });
      } else this.secrets.delete(pfn(e.hpa));
      return;
    }
    if (e.e !== "read" || !isHost(e.by)) return;
    if (e.content.k !== "data" || e.content.writer !== "guest" || !e.content.secret) return;
    const origin = this.secrets.get(pfn(e.hpa));
    const guestShared = origin?.viaShared || this.sharedInPlace.has(pfn(e.hpa));
    report({
      invariant: "no guest secret reaches the host",
      responsible: guestShared ? "guest" : "fw",
      hpa: e.hpa,
      evidence: origin ? [origin.seq, line.seq] : [line.seq],
      detail: `${e.by} read guest secret "${e.content.tag}"${guestShared ? " the guest left in shared memory" : " from a page that was not scrubbed"}`,
    });
  }
}
