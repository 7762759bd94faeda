// What a search has exercised. Two measures, both read off the log as a monitor reads it:
//   transitions: (sending party, receiving party, message type, and for answers the status, errno
//                or exit reason): how much of the protocol the runs touched;
//   table cells: each platform's state x call table, the state of the entry a host call named at
//                the moment it arrived: S-EPT state x SEAMCALL on TDX (the module's own lookup,
//                sept-table.ts), stage-2 page state x host hypercall on pKVM. The states are
//                shadowed from the log's sept and stage2 effects.

import { SEPT_TABLE } from "../../actors/trusted/tdx/sept-table.ts";
import { type Envelope, PAGE_4K, PAGE_STATES, partyOf, SeptState } from "../../protocol/index.ts";
import type { LogLine } from "../../protocol/log.ts";
import type { Platform } from "../../protocol/scenario.ts";
import type { Interest, Monitor } from "../monitors/monitor.ts";

/** The pKVM host hypercalls that name a guest page (by gfn): the stage-2 side of the table. */
const GFN_HYPERCALLS = [
  "__pkvm_host_donate_guest",
  "__pkvm_host_share_guest",
  "__pkvm_host_unshare_guest",
  "__pkvm_host_wrprotect_guest",
  "__pkvm_reclaim_dying_guest_page",
];

/** Every cell of a platform's state x call table. */
export function tableCells(platform: Platform): string[] {
  const calls =
    platform === "tdx" ? Object.keys(SEPT_TABLE).filter((c) => c.startsWith("TDH.")) : GFN_HYPERCALLS;
  const states: readonly string[] = platform === "tdx" ? SeptState.options : PAGE_STATES;
  return calls.flatMap((call) => states.map((state) => cell(state, call)));
}

const cell = (state: string, call: string) => `${state} x ${call}`;

export class CoverageObserver implements Monitor {
  readonly name = "coverage";
  readonly interests: readonly Interest[] = ["msg", "sept", "stage2"];
  readonly transitions = new Set<string>();
  readonly cells = new Set<string>();
  /** Shadow of entry states by "level:gpa" (S-EPT) or gpa (stage-2). */
  private readonly states = new Map<string, string>();

  constructor(private readonly platform: Platform) {}

  observe(line: LogLine): void {
    if (line.type === "effect") {
      const e = line.effect;
      if (e.e === "sept") this.states.set(`${e.level}:${e.gpa}`, e.to);
      else if (e.e === "stage2") this.states.set(`0:${e.gpa}`, e.to);
      return;
    }
    if (line.type !== "msg") return;
    this.transitions.add(transitionOf(line));
    if (line.kind !== "request" || line.from !== "host/kvm" || line.to !== "fw") return;
    const msg = line.msg as { type: string; gpa?: number; gfn?: number; level?: number };
    const gpa = msg.gpa ?? (msg.gfn === undefined ? undefined : msg.gfn * PAGE_4K);
    if (gpa === undefined) return;
    const fallback = this.platform === "tdx" ? "FREE" : "PKVM_NOPAGE";
    this.cells.add(cell(this.states.get(`${msg.level ?? 0}:${gpa}`) ?? fallback, msg.type));
  }
}

function transitionOf(line: Envelope): string {
  const msg = line.msg as Record<string, unknown>;
  const route = `${partyOf(line.from)}>${partyOf(line.to)} ${msg.type as string}`;
  if (line.kind === "request") return route;
  const exit = msg.exit as { reason?: string; exit_reason?: string } | undefined;
  const answer = exit?.reason ?? exit?.exit_reason ?? msg.status ?? msg.ret ?? msg.x0 ?? "";
  return `${route} -> ${String(answer)}`;
}
