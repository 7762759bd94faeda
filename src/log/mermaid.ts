// A run (or a filtered part of it) as a mermaid sequenceDiagram: requests ->>, responses -->>,
// effects and violations as notes, the verdict as a last note over everyone. Participants run
// guest -> host -> trusted, left to right, so calls into the trusted side always point right.
import type { Message } from "../../protocol/index.ts";
import type { VerdictLine, ViolationLine } from "../../protocol/log.ts";
import { tdxStatusName } from "../../protocol/status.ts";
import { type Annotated, addressOrder, fieldsOf, hex, num } from "./query.ts";
import { describeEffect } from "./timeline.ts";

export const DEFAULT_MERMAID_LIMIT = 400;

export interface MermaidOptions {
  /** At most this many messages (default 400): mermaid renders thousands poorly. */
  limit?: number;
  /** Draw effects as notes over the party that did them. */
  effects?: boolean;
}

export function toMermaid(lines: readonly Annotated[], options: MermaidOptions = {}): string {
  const diagram = new MermaidBuilder(options);
  for (const a of lines) diagram.add(a);
  return diagram.finish();
}

/**
 * `toMermaid` over lines handed in one at a time (a log read as a stream): it holds the lines it
 * draws, at most `limit` messages and what goes with them, and only counts the rest.
 */
export class MermaidBuilder {
  private readonly limit: number;
  private readonly effects: boolean;
  private readonly shown: Annotated[] = [];
  private messages = 0;
  private cut = false;
  /** Messages and violations past the limit. */
  private more = 0;
  private hiddenViolations = 0;
  /** Drawn at the end whatever the limit: how the run ended. */
  private verdict: VerdictLine | undefined;

  constructor(options: MermaidOptions = {}) {
    this.limit = options.limit ?? DEFAULT_MERMAID_LIMIT;
    this.effects = options.effects === true;
  }

  /** `anchor`: draw it even if it is an effect and effects are not drawn (the line --around names). */
  add(a: Annotated, anchor = false): void {
    if (a.line.type === "verdict") {
      this.verdict = a.line;
      return;
    }
    if (!this.cut && a.line.type === "msg" && this.messages++ === this.limit) this.cut = true;
    if (this.cut) {
      if (a.line.type === "msg") this.more++;
      else if (a.line.type === "violation") this.hiddenViolations++;
    } else if (a.line.type !== "effect" || this.effects || anchor) this.shown.push(a);
  }

  finish(): string {
    const { shown } = this;
    const present = participantsOf(shown);
    const body: string[] = [];
    for (const a of shown) {
      const { line, by } = a;
      if (line.type === "msg") {
        const arrow = line.kind === "request" ? "->>" : line.kind === "response" ? "-->>" : "-)";
        body.push(`  ${id(line.from)}${arrow}${id(line.to)}: ${mermaidText(label(line.msg))}`);
      } else if (line.type === "effect" && by !== undefined) {
        body.push(`  Note over ${id(by)}: ${mermaidText(describeEffect(line.effect, a.cause))}`);
      } else if (line.type === "violation") {
        const over = violationParticipants(line, present);
        body.push(`  Note over ${span(over)}: ${mermaidText(`VIOLATION ${line.invariant}: ${line.detail}`)}`);
      } else if (line.type === "rejected") {
        body.push(`  Note over ${id(line.from)}: ${mermaidText(`rejected: ${line.reason}`)}`);
      }
    }
    const all = addressOrder([
      ...present,
      ...shown.flatMap((a) => (a.line.type === "violation" ? violationParticipants(a.line, present) : [])),
    ]);
    if (this.cut) {
      const hidden = this.hiddenViolations > 0 ? `; ${this.hiddenViolations} violation(s) not shown` : "";
      const note = `truncated after ${this.limit} messages, ${this.more} more (--limit)${hidden}`;
      body.push(all.length > 0 ? `  Note over ${span(all)}: ${note}` : `  %% ${note}`);
    }
    if (this.verdict) {
      const { outcome, reason } = this.verdict;
      const note = mermaidText(`verdict ${outcome}: ${reason}`);
      body.push(all.length > 0 ? `  Note over ${span(all)}: ${note}` : `  %% ${note}`);
    }
    return ["sequenceDiagram", ...all.map((p) => `  participant ${id(p)} as ${p}`), ...body].join("\n");
  }
}

/** The key of a message in a few words: type, op, the address it is about, and how it ended. */
function label(msg: Message): string {
  const m = fieldsOf(msg);
  const parts: string[] = [msg.type];
  if (typeof m.op === "string") parts.push(m.op);
  const gpa = num(m.gpa) ?? num(m.address);
  const hpa = num(m.hpa);
  if (gpa !== undefined) parts.push(`gpa=${hex(gpa)}`);
  else if (hpa !== undefined) parts.push(`hpa=${hex(hpa)}`);
  if (typeof m.status === "string") parts.push(tdxStatusName(m.status));
  if (typeof m.ret === "number" && m.ret !== 0) parts.push(`ret=${m.ret}`);
  for (const nested of [m.exit, m.outcome]) {
    if (typeof nested !== "object" || nested === null) continue;
    const n = fieldsOf(nested);
    const reason = n.reason ?? n.exit_reason ?? n.result;
    if (typeof reason === "string") parts.push(reason);
    const at = num(n.gpa);
    if (at !== undefined) parts.push(`gpa=${hex(at)}`);
  }
  return parts.join(" ");
}

/** Mermaid ends message text at "#" or ";" and drops "<...>" as HTML: write those as entity codes. */
const mermaidText = (text: string): string => text.replace(/[#;<]/g, (c) => `#${c.charCodeAt(0)};`);

/** Mermaid ids cannot hold "/". */
const id = (address: string): string => address.replace("/", "_");

const span = (participants: readonly string[]): string =>
  participants.length > 1 ? `${id(participants[0]!)},${id(participants.at(-1)!)}` : id(participants[0]!);

function participantsOf(shown: readonly Annotated[]): string[] {
  const seen = new Set<string>();
  for (const { line, by } of shown) {
    if (line.type === "msg") {
      seen.add(line.from);
      seen.add(line.to);
    } else if ((line.type === "effect" || line.type === "rejected") && by !== undefined) seen.add(by);
  }
  return addressOrder([...seen]);
}

/** Who a violation's note spans: the responsible party's participants, or its main one if none is drawn. */
function violationParticipants(line: ViolationLine, present: readonly string[]): string[] {
  const { responsible } = line;
  if (responsible === "fw" || responsible === "hw") return [responsible];
  const own = present.filter((p) => p.startsWith(`${responsible}/`));
  return own.length > 0 ? own : [responsible === "guest" ? "guest/kernel" : "host/kvm"];
}
