// Bounded exhaustive search: stateless depth-first search over the choice tape (Godefroid's
// VeriSoft habit: re-execute from the start rather than store states), bounded by the number of
// choices that leave the default, like CHESS's preemption bound. The root run takes every default
// (the honest host, the first ready channel); each child departs from its parent's run at one
// later choice. When the search ends by itself it has run every run with at most `depth`
// departures: "no violation in all N runs of up to k departures" is then a claim random search
// cannot make.
import type { Choice } from "../kit/choice.ts";

/** Runs a tape (leniently) and returns the tape the run actually made. */
export type Execute = (tape: readonly Choice[]) => Promise<readonly Choice[]>;

interface Frame {
  /** The run this frame's children depart from. */
  readonly trace: readonly Choice[];
  readonly departures: number;
  /** The next child: the choice to change, and the value to give it. */
  index: number;
  value: number;
}

/**
 * The next departure at or after (index, value) in a trace, if any. Past a run's last departure
 * every choice it made is the default 0, so a departure is any other value.
 */
function nextDeparture(trace: readonly Choice[], index: number, value: number): [number, number] | undefined {
  for (let i = index, v = value; i < trace.length; i++, v = 1) if (v < trace[i]!.n) return [i, v];
  return undefined;
}

/**
 * Every run with at most `depth` departures, in depth-first order: yields each run's tape (the
 * root first). `exhausted` is set when the search ended by itself.
 */
export class BoundedDfs {
  exhausted = false;
  private readonly stack: Frame[] = [];
  private started = false;

  constructor(
    private readonly execute: Execute,
    private readonly depth: number,
  ) {}

  async next(): Promise<readonly Choice[] | undefined> {
    if (!this.started) {
      this.started = true;
      const root = await this.execute([]);
      if (this.depth > 0) this.stack.push({ trace: root, departures: 0, index: 0, value: 1 });
      else this.exhausted = true;
      return root;
    }
    for (;;) {
      const frame = this.stack.at(-1);
      if (!frame) {
        this.exhausted = true;
        return undefined;
      }
      const found = nextDeparture(frame.trace, frame.index, frame.value);
      if (!found) {
        this.stack.pop();
        continue;
      }
      const [index, value] = found;
      frame.index = index;
      frame.value = value + 1;
      const tape = [...frame.trace.slice(0, index), { ...frame.trace[index]!, value }];
      const trace = await this.execute(tape);
      if (frame.departures + 1 < this.depth)
        this.stack.push({ trace, departures: frame.departures + 1, index: index + 1, value: 1 });
      return trace;
    }
  }
}

/** The j-th single departure from a root trace (portfolio's share of depth 1), if there are that many. */
export function singleDeparture(root: readonly Choice[], j: number): Choice[] | undefined {
  let left = j;
  for (let i = 0; i < root.length; i++) {
    const options = root[i]!.n - 1;
    if (left < options) return [...root.slice(0, i), { ...root[i]!, value: left + 1 }];
    left -= options;
  }
  return undefined;
}
