// What must happen in a run for an attack to count as tried: the attacking request or access
// reaching the party it targets, read off the log. A cell whose attack never fired says so instead
// of reporting a defence that was never tested (a host that happened to map pages elsewhere,
// injecting requests that were refused before they reached the target).
import { DEFAULT_SHARED_BIT, type Envelope, PAGE_4K, type Request } from "../../../protocol/index.ts";
import type { LogLine } from "../../../protocol/log.ts";

export interface Firing {
  /** What must have happened, in a sentence. */
  readonly says: string;
  readonly check: (log: readonly LogLine[]) => boolean;
}

type Requested<T extends Request["type"]> = Envelope & { msg: Extract<Request, { type: T }> };

/** The log as the checks read it: delivered requests by type, and effects. */
export class RunView {
  private readonly byType = new Map<string, Envelope[]>();

  constructor(readonly log: readonly LogLine[]) {
    for (const line of log) {
      if (line.type !== "msg" || line.kind !== "request") continue;
      const list = this.byType.get(line.msg.type) ?? [];
      list.push(line);
      this.byType.set(line.msg.type, list);
    }
  }

  /** Delivered requests of a type (from any sender), in log order. */
  requests<T extends Request["type"]>(type: T): Requested<T>[] {
    return (this.byType.get(type) ?? []) as Requested<T>[];
  }

  /** The frame the host gave the guest at a GPA page: TDX AUG/ADD, or a pKVM donation. */
  frameOf(gpa: number): number | undefined {
    for (const r of this.requests("TDH.MEM.PAGE.AUG"))
      if (r.msg.gpa === gpa && r.msg.level === 0) return r.msg.hpa;
    for (const r of this.requests("TDH.MEM.PAGE.ADD")) if (r.msg.gpa === gpa) return r.msg.hpa;
    for (const r of this.requests("__pkvm_host_donate_guest"))
      if (r.msg.gfn * PAGE_4K === gpa) return r.msg.pfn * PAGE_4K;
    return undefined;
  }

  /** Every frame that backed a GPA page, private or shared, in the order they were given. */
  framesBehind(gpa: number): number[] {
    const frames: number[] = [];
    for (const r of this.requests("TDH.MEM.PAGE.AUG")) if (r.msg.gpa === gpa) frames.push(r.msg.hpa);
    for (const r of this.requests("ept.map"))
      if (r.msg.gpa === gpa + DEFAULT_SHARED_BIT) frames.push(r.msg.hpa);
    for (const r of this.requests("__pkvm_host_donate_guest"))
      if (r.msg.gfn * PAGE_4K === gpa) frames.push(r.msg.pfn * PAGE_4K);
    return frames;
  }

  /** Seq of each host access of `op` to one of `frames` that reached the hardware. */
  hostAccesses(op: "read" | "write", frames: readonly number[]): number[] {
    const seqs: number[] = [];
    for (const line of this.log) {
      if (line.type !== "effect") continue;
      const e = line.effect;
      if (e.e === op && e.by.startsWith("host/") && frames.includes(e.hpa - (e.hpa % PAGE_4K)))
        seqs.push(line.seq);
    }
    return seqs;
  }

  /** Seq of the first effect matching, or undefined. */
  firstEffect(match: (line: Extract<LogLine, { type: "effect" }>) => boolean): number | undefined {
    for (const line of this.log) if (line.type === "effect" && match(line)) return line.seq;
    return undefined;
  }

  /** Seq of the first milestone exit (a POST code the guest wrote) answered to the host. */
  get milestone(): number | undefined {
    for (const line of this.log) {
      if (line.type !== "msg" || line.kind !== "response" || !("exit" in line.msg)) continue;
      const exit = line.msg.exit as { reason?: string } | undefined;
      if (exit?.reason === "IO_INSTRUCTION" || exit?.reason === "MMIO") return line.seq;
    }
    return undefined;
  }
}

/** A firing check over the run's log. */
export const fired = (says: string, check: (run: RunView) => boolean): Firing => ({
  says,
  check: (log) => check(new RunView(log)),
});
