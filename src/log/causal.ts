// Why a line happened: the message its `causedBy` names, that message's cause, and so on back to a
// line with none (a root). A cause is delivered, so logged, before what it caused: each link is
// resolved to a seq as the log goes by, and a chain only ever steps back.
import type { LogLine } from "../../protocol/log.ts";
import { type Annotated, formatLine, partyOfActor } from "./query.ts";

/** A `causedBy` naming no message of the log (a log cut at the front, or edited). */
const MISSING = -1;

export interface Chain {
  /** The line asked about, then each cause in turn. */
  seqs: number[];
  /** The seq of the last line of the chain when its `causedBy` names no message in the log. */
  broken?: number;
}

/**
 * The seq of every line's cause, up to the line asked about. Unlike the rest of `cocomem log`, it
 * grows with the log (message ids, and a number a line): a cause can be any number of lines back.
 */
export class CauseIndex {
  /** Message id -> seq, to resolve `causedBy`. */
  private readonly seqOf = new Map<string, number>();
  /** By seq: the seq of the line's cause, or MISSING. */
  private readonly back: number[] = [];
  /** The line asked about, once read. */
  target: LogLine | undefined;
  /** The highest seq read. */
  last = -1;

  constructor(readonly seq: number) {}

  /** Take the next line of the log; false once the line asked about was read: what follows cannot be its cause. */
  add(line: LogLine): boolean {
    if (line.type === "header") return true;
    this.last = Math.max(this.last, line.seq);
    if (line.type === "msg") this.seqOf.set(line.id, line.seq);
    if ((line.type === "msg" || line.type === "effect") && line.causedBy !== undefined) {
      this.back[line.seq] = this.seqOf.get(line.causedBy) ?? MISSING;
    } else if (line.type === "violation" && line.evidence.length > 0) {
      // A finding has no causedBy: it was made on its latest evidence, so the chain goes on there.
      this.back[line.seq] = Math.max(...line.evidence);
    }
    if (line.seq !== this.seq) return true;
    this.target = line;
    return false;
  }

  /** The chain from the line asked about back to its root. */
  chain(): Chain {
    const seqs = [this.seq];
    for (let at = this.seq; ; ) {
      const next = this.back[at];
      if (next === MISSING) return { seqs, broken: at };
      // Only ever back: an edited log could otherwise loop.
      if (next === undefined || next >= at) return { seqs };
      seqs.push(next);
      at = next;
    }
  }
}

/**
 * The side of the boundary doing a line: guest, host, or fw (the TDX module, pKVM's EL2) and hw
 * apart, though one party holds both; none for the header and the verdict.
 */
const partyOf = (a: Annotated): string => {
  if (a.by === undefined) return "";
  const party = partyOfActor(a.by);
  return party === "trusted" ? a.by : party;
};

/**
 * One step of a chain as text: the side (guest, host, fw, hw) where it changes from the line
 * above, so a crossing stands out; `<-` on every step back; then the line as `cocomem log` prints it.
 */
export function formatChain(steps: readonly Annotated[]): string[] {
  return steps.map((a, i) => {
    const party = partyOf(a);
    const shown = i > 0 && party === partyOf(steps[i - 1]!) ? "" : party;
    return `${shown.padEnd(7)} ${i === 0 ? "  " : "<-"} ${formatLine(a)}`;
  });
}
