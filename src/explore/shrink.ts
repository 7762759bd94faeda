// Shrinking a counterexample: delta debugging over its choice tape (Zeller and Hildebrandt, 2002;
// Hypothesis's habit of shrinking the choice sequence rather than the test case). A candidate
// tape is replayed leniently (past its end every choice is 0: the honest host, the first ready
// channel) and kept if the same monitor still fires for the same party. Candidates delete blocks
// of choices, set choices to 0, and lower them; a tape is only ever replaced by a smaller one.
import { decisionOf } from "../adversaries/any/adversary.ts";
import type { Mix } from "../adversaries/any/mix.ts";
import type { Choice } from "../kit/choice.ts";
import { exploreRun, type Finding } from "./runner.ts";
import { lenient } from "./strategies.ts";
import type { Target } from "./target.ts";

/** Runs one shrink may spend: each is a replay of a candidate tape. */
const SHRINK_BUDGET = 1000;

export interface Shrunk {
  readonly tape: readonly Choice[];
  /** Replays spent. */
  readonly runs: number;
}

/** Host actions on a tape: the decisions (act, send, build) that left the honest path. */
export function actionCount(tape: readonly Choice[]): number {
  return tape.filter((c) => c.stream === "host" && c.value !== 0 && decisionOf(c.label) !== undefined).length;
}

/** Drop each stream's trailing zeros: a lenient replay reads them as 0 anyway. */
function trimmed(tape: readonly Choice[]): Choice[] {
  const last = new Map<string, number>();
  tape.forEach((c, i) => {
    if (c.value !== 0) last.set(c.stream, i);
  });
  return tape.filter((c, i) => i <= (last.get(c.stream) ?? -1));
}

/** A host action on a tape: its decision's index and the index past its last argument. */
interface ActionSpan {
  readonly start: number;
  readonly end: number;
}

/** The host's departures from the honest path: each decision left non-zero, with its arguments. */
function actionsOf(tape: readonly Choice[]): ActionSpan[] {
  const spans: ActionSpan[] = [];
  for (let i = 0; i < tape.length; i++) {
    const c = tape[i]!;
    if (c.stream !== "host" || c.value === 0 || decisionOf(c.label) === undefined) continue;
    let end = i + 1;
    while (end < tape.length && (tape[end]!.stream !== "host" || decisionOf(tape[end]!.label) === undefined))
      end++;
    spans.push({ start: i, end });
  }
  return spans;
}

/** The tape with only these actions: every other decision back to 0 and its arguments removed. */
function onlyActions(tape: readonly Choice[], keep: readonly ActionSpan[]): Choice[] {
  const kept = new Set(keep.map((a) => a.start));
  const dropped = actionsOf(tape).filter((a) => !kept.has(a.start));
  return tape.flatMap((c, i) => {
    const span = dropped.find((a) => i >= a.start && i < a.end);
    if (!span) return [c];
    if (i === span.start) return [{ ...c, value: 0 }];
    return c.stream === "host" ? [] : [c];
  });
}

/** Most actions a tape may have for every pair of them to be tried alone (n(n-1) replays). */
const MAX_PAIRED = 12;

/** Try each action alone, then each pair alone; true at the first that keeps the finding. */
async function isolate(
  tape: readonly Choice[],
  attempt: (candidate: readonly Choice[]) => Promise<boolean>,
): Promise<boolean> {
  const actions = actionsOf(tape);
  if (actions.length <= 1) return false;
  // Each candidate twice: in the delivery order the run had, and in the default order (the
  // actions then fall where the honest run's deliveries put them).
  const tryBoth = async (keep: ActionSpan[]) => {
    const only = onlyActions(tape, keep);
    return (await attempt(only.filter((c) => c.stream === "host"))) || (await attempt(only));
  };
  for (const keep of actions) if (await tryBoth([keep])) return true;
  if (actions.length <= 2 || actions.length > MAX_PAIRED) return false;
  for (let i = 0; i < actions.length; i++)
    for (let j = i + 1; j < actions.length; j++) if (await tryBoth([actions[i]!, actions[j]!])) return true;
  return false;
}

/** Smaller: fewer host actions, then a shorter tape, then smaller values. */
export function smaller(a: readonly Choice[], b: readonly Choice[]): boolean {
  const key = (t: readonly Choice[]) => [actionCount(t), t.length, t.reduce((s, c) => s + c.value, 0)];
  const [x, y] = [key(a), key(b)];
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! < y[i]!;
  return false;
}

export async function shrink(
  target: Target,
  finding: Finding,
  start: { tape: readonly Choice[]; seed: number; mix: Mix },
  budget = SHRINK_BUDGET,
): Promise<Shrunk> {
  let best = trimmed(start.tape);
  let runs = 0;
  /** The tape the candidate's run actually made, if it still shows the finding and is smaller. */
  const attempt = async (candidate: readonly Choice[]): Promise<boolean> => {
    if (runs >= budget) return false;
    runs++;
    const run = await exploreRun(target, { seed: start.seed, mix: start.mix, strategy: lenient(candidate) });
    if (run.finding?.key !== finding.key) return false;
    const made = trimmed(run.tape);
    if (!smaller(made, best)) return false;
    best = made;
    return true;
  };
  // Cheapest first: the delivery order left to the default, keeping only the host's choices.
  await attempt(best.filter((c) => c.stream === "host"));
  let improved = true;
  while (improved && runs < budget) {
    improved = false;
    // Whole actions first, the cheapest cuts: a few actions alone (one, then two: a build flag
    // and the act it enables), then each action left out (decision back to 0, arguments gone).
    if (await isolate(best, attempt)) {
      improved = true;
      continue;
    }
    let dropped = false;
    for (const drop of actionsOf(best).reverse())
      if (
        await attempt(
          onlyActions(
            best,
            actionsOf(best).filter((a) => a.start !== drop.start),
          ),
        )
      )
        dropped = true;
    if (dropped) {
      improved = true;
      continue;
    }
    for (const size of [16, 8, 4, 2, 1]) {
      for (let at = 0; at < best.length && runs < budget; ) {
        if (await attempt([...best.slice(0, at), ...best.slice(at + size)])) improved = true;
        else at += size;
      }
    }
    for (let at = 0; at < best.length && runs < budget; at++) {
      const value = best[at]!.value;
      if (value === 0) continue;
      for (const lower of new Set([0, value >> 1, value - 1])) {
        if (lower >= value) continue;
        const candidate = best.map((c, i) => (i === at ? { ...c, value: lower } : c));
        if (await attempt(candidate)) {
          improved = true;
          break;
        }
      }
    }
  }
  return { tape: best, runs };
}
