// Sanitisation ("who zeroes what", TDX contract): a page entering the TD is zeroed by ACCEPT (or
// filled by PAGE.ADD) before the guest reads it; on parts with the partial-write erratum
// (X86_BUG_TDX_PW_MCE) a page leaving the TD is cleared by the host with MOVDIR64B before the
// host uses it again, and by the end of the run. Without the erratum the host owes no clear: its
// stores overwrite private lines and its loads see no plaintext.
import type { ZeroReason } from "../../protocol/index.ts";
import type { LogLine } from "../../protocol/log.ts";
import type { Finding, Interest, Monitor } from "./monitor.ts";
import { isGuest, isHost, pfn } from "./shared-bit.ts";

/** The host clears that make a released frame safe to reuse: full-line writes (MOVDIR64B). */
const HOST_CLEAR: ReadonlySet<ZeroReason> = new Set<ZeroReason>([
  "MOVDIR64B",
  "tdx_clear_page",
  "tdx_reclaim_page",
]);

export class TdxSanitisationMonitor implements Monitor {
  readonly name = "sanitisation";
  readonly interests: readonly Interest[] = ["owner", "zero", "write", "read"];
  /** Frames handed back by the TD and not yet cleared: pfn -> seq of the release. */
  private readonly dirty = new Map<number, number>();
  /** Frames given to the TD as guest memory and not yet initialised by the module. */
  private readonly unsanitised = new Map<number, number>();

  /** `hostMustClear`: the part has the partial-write erratum, so the host owes the clear. */
  constructor(private readonly hostMustClear = true) {}

  observe(line: LogLine, report: (f: Finding) => void): void {
    if (line.type !== "effect") return;
    const e = line.effect;
    switch (e.e) {
      case "owner":
        for (let i = 0; i < e.pages; i++) {
          const frame = pfn(e.hpa) + i;
          if (e.to === "host") {
            this.unsanitised.delete(frame);
            if (this.hostMustClear) this.dirty.set(frame, line.seq);
          } else {
            this.dirty.delete(frame);
            if (e.pageType === "PT_REG") this.unsanitised.set(frame, line.seq);
          }
        }
        return;
      case "zero":
        for (let i = 0; i < e.pages; i++) {
          const frame = pfn(e.hpa) + i;
          if (e.why === "TDG.MEM.PAGE.ACCEPT") this.unsanitised.delete(frame);
          else if (this.dirty.has(frame) && !HOST_CLEAR.has(e.why)) this.reuse(e.by, frame, line.seq, report);
          if (HOST_CLEAR.has(e.why)) this.dirty.delete(frame);
        }
        return;
      case "write":
        if (e.by === "fw") this.unsanitised.delete(pfn(e.hpa));
        if (isHost(e.by) && this.dirty.has(pfn(e.hpa))) this.reuse(e.by, pfn(e.hpa), line.seq, report);
        return;
      case "read": {
        const frame = pfn(e.hpa);
        if (isHost(e.by) && this.dirty.has(frame)) this.reuse(e.by, frame, line.seq, report);
        if (isGuest(e.by) && this.unsanitised.has(frame)) {
          report({
            invariant: "a page entering the TD is zeroed by TDG.MEM.PAGE.ACCEPT",
            responsible: "fw",
            hpa: e.hpa,
            evidence: [this.unsanitised.get(frame)!, line.seq],
            detail: `${e.by} read a frame the module never initialised`,
          });
        }
        return;
      }
      default:
        return;
    }
  }

  finish(report: (f: Finding) => void): void {
    for (const [frame, seq] of this.dirty) {
      report({
        invariant: "a page leaving the TD is cleared by the host (MOVDIR64B)",
        responsible: "host",
        hpa: frame * 0x1000,
        evidence: [seq],
        detail: "released by the TD and never cleared",
      });
    }
  }

  private reuse(by: string, frame: number, seq: number, report: (f: Finding) => void): void {
    report({
      invariant: "a page leaving the TD is cleared by the host (MOVDIR64B)",
      responsible: "host",
      hpa: frame * 0x1000,
      evidence: [this.dirty.get(frame)!, seq],
      detail: `${by} used the frame before clearing it`,
    });
    this.dirty.delete(frame);
  }
}
