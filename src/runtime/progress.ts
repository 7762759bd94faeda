// Progress detection: a run in which no party makes progress ends as `stalled`, naming the party,
// long before the step limit. Progress is an effect: every change a party makes to state it owns
// is logged as one, except KVM's RET_PF_RETRY, which says a fault did nothing and the access
// will fault again. An exchange (a request and its answer, compared by sender, receiver and
// content, never by ids) that comes round again and again with nothing changing in between is a
// party sending the same request after the same answer: after `stallAfter` such repeats the run
// has stalled. It reads only what the orchestrator logs, in log order, so it
// is as deterministic as the log; it never looks at the clock.
//
// Cheap by construction: a delivery costs one counter increment until a stretch of
// `TRACK_AFTER` deliveries has gone by without an effect; only then are exchanges fingerprinted,
// and any effect drops what was gathered.
import type { Address, Effect, Envelope } from "../../protocol/index.ts";

/** Repeats of one exchange with nothing changing in between that end a run as stalled, by default. */
export const DEFAULT_STALL_AFTER = 1000;

/** Effect-free deliveries before exchanges are fingerprinted . */
const TRACK_AFTER = 64;

/** A repeating exchange: who keeps asking whom for what, and the answer it keeps getting. */
export interface Stall {
  /** The party that keeps sending the same request after the same answer. */
  from: Address;
  to: Address;
  request: Envelope["msg"];
  answer: Envelope["msg"];
  /** How many times it came round with nothing changing in between (at least this many). */
  times: number;
}

export class Progress {
  /** Deliveries since the last effect. */
  private quiet = 0;
  /** Fingerprints of requests delivered while tracking, by message id, until answered. */
  private readonly asked = new Map<string, string>();
  private readonly repeats = new Map<string, number>();
  /**
   * The exchange that reached the bound. The delivery that completed it may still log effects of
   * its own, which clear it: the orchestrator reads it once the delivery is done.
   */
  stall: Stall | undefined;

  constructor(private readonly stallAfter = DEFAULT_STALL_AFTER) {
    if (!Number.isInteger(stallAfter) || stallAfter < 1)
      throw new Error(`stallAfter must be a positive integer, got ${stallAfter}`);
  }

  /** An effect was logged: progress, unless it only says nothing was done. */
  effect(effect: Effect): void {
    if (effect.e === "fault" && effect.kind === "RET_PF_RETRY") return;
    if (this.quiet > TRACK_AFTER) {
      this.asked.clear();
      this.repeats.clear();
    }
    this.quiet = 0;
    this.stall = undefined;
  }

  /** A message was delivered (after it was logged, before the receiver's effects are). */
  delivered(env: Envelope): void {
    if (++this.quiet <= TRACK_AFTER) return;
    const print = JSON.stringify([env.from, env.to, env.msg]);
    if (env.kind === "request") {
      this.asked.set(env.id, print);
      return;
    }
    const request = this.asked.get(env.re!);
    if (request === undefined) return;
    this.asked.delete(env.re!);
    const key = `${request}\n${print}`;
    const times = (this.repeats.get(key) ?? 0) + 1;
    this.repeats.set(key, times);
    if (times >= this.stallAfter && !this.stall) {
      const [from, to, msg] = JSON.parse(request) as [Address, Address, Envelope["msg"]];
      this.stall = { from, to, request: msg, answer: env.msg, times };
    }
  }
}

/**
 * `host/kvm sent vcpu.kick vcpu=0 to hw 1000 times and got the same answer (...)`. Under an
 * adversarial host (a plug-in or a corpus attack) a host address says so; which one is in the
 * log's header (the process transport knows only its file, so the name is not repeated here).
 */
export function describeStall(stall: Stall, adversarialHost: boolean): string {
  const who =
    adversarialHost && stall.from.startsWith("host/")
      ? `${stall.from} (under an adversarial host)`
      : stall.from;
  const exit = exitOf(stall.answer);
  const entered = stall.request.type === "TDH.VP.ENTER" || stall.request.type === "__kvm_vcpu_run";
  if (entered && exit) {
    const vcpu = (stall.request as { vcpu?: number }).vcpu;
    return `${who} re-entered guest/vcpu${vcpu} ${stall.times} times on the same ${exit} with nothing changing in between: no progress`;
  }
  return (
    `${who} sent ${summary(stall.request)} to ${stall.to} ${stall.times} times and got the same answer ` +
    `(${summary(stall.answer)}) with nothing changing in between: no progress`
  );
}

/** An exit in an answer, as `EPT_VIOLATION at 0x400000`. */
function exitOf(msg: Envelope["msg"]): string | undefined {
  const exit = (msg as { exit?: Record<string, unknown> }).exit;
  if (!exit) return undefined;
  const reason = exit.reason ?? exit.exit_reason ?? "exit";
  const at = exit.gpa ?? exit.ipa ?? exit.addr;
  return typeof at === "number" ? `${reason} at 0x${at.toString(16)}` : String(reason);
}

/** A message's type and its plain fields: `TDH.MEM.PAGE.REMOVE gpa=0x400000 level=0`. */
function summary(msg: Envelope["msg"]): string {
  const fields = Object.entries(msg).flatMap(([key, value]) => {
    if (key === "type") return [];
    if (typeof value === "number") return [`${key}=${value >= 0x1000 ? `0x${value.toString(16)}` : value}`];
    if (typeof value === "string" || typeof value === "boolean") return [`${key}=${value}`];
    if (key === "exit") return [`exit=${exitOf(msg)}`];
    return [];
  });
  return [msg.type, ...fields].join(" ");
}
