// Every nondeterministic choice of a run goes through one call: `choose(n, label)` on a Chooser,
// which returns an integer in [0, n). The run is given a Strategy that supplies a chooser per
// stream of choices: the scheduler's (which channel delivers next) and the host's (whatever an
// adversary decides). A strategy can be seeded (the default: today's seeded pick), replay a
// recorded choice tape, or be recorded; the explorer adds its own (fast-check's scheduler habit:
// the same code runs random orders or a recorded one).
import { Rng } from "./rng.ts";

/** Who makes the choices of a stream: the orchestrator's scheduler, or the (adversarial) host. */
export type Stream = "schedule" | "host";
export const STREAMS: readonly Stream[] = ["schedule", "host"];

export interface Chooser {
  /**
   * An integer in [0, n). With n <= 1 there is nothing to choose: 0, and nothing is recorded.
   * `nameOf(i)`, when given, names option i stably across the run (the scheduler's channels), for
   * strategies that prefer some options to others (PCT's priorities); nothing else depends on it.
   */
  choose(n: number, label: string, nameOf?: (option: number) => string): number;
}

/** One choice as a tape holds it. `n` and `label` say what was chosen among, for replay checks. */
export interface Choice {
  readonly stream: Stream;
  readonly label: string;
  readonly n: number;
  readonly value: number;
}

/** Where a replayed tape stopped fitting the run: the choice's index within its stream, and why. */
export interface Divergence {
  readonly stream: Stream;
  readonly index: number;
  readonly label: string;
  readonly detail: string;
}

export interface Strategy {
  /** The chooser for one stream; each stream is independent of the others. */
  chooser(stream: Stream): Chooser;
  /** The first choice that did not fit the run, if any (the run ends there). */
  readonly divergence: Divergence | undefined;
}

/** The seeded default: each stream draws from its own fork of the run's root generator. */
export function seededStrategy(seed: number): Strategy {
  return {
    divergence: undefined,
    chooser: (stream) => {
      const rng = streamRng(seed, stream);
      return guarded({ choose: (n) => rng.int(n) });
    },
  };
}

/**
 * The run's root generator forked the way the orchestrator always has: fork 1 is the scheduler's,
 * fork 2 the message ids', fork 3 the host's. Adding a stream never changes an earlier one.
 */
export function streamRng(seed: number, stream: Stream | "ids"): Rng {
  const index = { schedule: 1, ids: 2, host: 3 }[stream];
  const root = new Rng(seed);
  let rng = root.fork(1);
  for (let i = 2; i <= index; i++) rng = root.fork(i);
  return rng;
}

export interface ReplayOptions {
  /**
   * strict (replaying a recorded run): a choice whose label or range differs from the tape's, a
   * value out of its range, or a choice past the tape's end is a divergence. lenient (shrinking,
   * search): never; a value out of range, and every choice past the tape's end, reads as 0.
   */
  readonly mode: "strict" | "lenient";
}

/** Replay a tape: each stream reads its own choices from it, in order. */
export function replayStrategy(
  tape: readonly Choice[],
  options: ReplayOptions = { mode: "strict" },
): Strategy {
  const state: { divergence: Divergence | undefined } = { divergence: undefined };
  return {
    get divergence() {
      return state.divergence;
    },
    chooser: (stream) => {
      const mine = tape.filter((choice) => choice.stream === stream);
      let index = 0;
      const diverge = (at: number, label: string, detail: string): number => {
        state.divergence ??= { stream, index: at, label, detail };
        return 0;
      };
      return guarded({
        choose(n, label) {
          const at = index++;
          const recorded = mine[at];
          if (state.divergence) return 0;
          if (!recorded) {
            return options.mode === "strict"
              ? diverge(
                  at,
                  label,
                  `the run makes more ${stream} choices than the tape holds (${mine.length})`,
                )
              : 0;
          }
          if (recorded.value >= n || recorded.value < 0) {
            if (options.mode === "lenient") return 0;
            return diverge(
              at,
              label,
              `the tape says ${recorded.value}, but there are only ${n} to choose from`,
            );
          }
          if (options.mode === "strict" && (recorded.label !== label || recorded.n !== n)) {
            return diverge(
              at,
              label,
              `the tape chose among ${recorded.n} for "${recorded.label}", the run among ${n} for "${label}"`,
            );
          }
          return recorded.value;
        },
      });
    },
  };
}

/** A strategy whose choices are also written down, in the order they are made (the run's tape). */
export interface Recording extends Strategy {
  readonly tape: readonly Choice[];
  /** Add choices made elsewhere (a host in another process), in the order they were made. */
  note(choices: readonly Choice[]): void;
}

export function recording(inner: Strategy): Recording {
  const tape: Choice[] = [];
  return {
    tape,
    get divergence() {
      return inner.divergence;
    },
    note: (choices) => {
      tape.push(...choices);
    },
    chooser(stream) {
      const chooser = inner.chooser(stream);
      return guarded({
        choose(n, label, nameOf) {
          const value = chooser.choose(n, label, nameOf);
          tape.push({ stream, label, n, value });
          return value;
        },
      });
    },
  };
}

/** A choice among one or none is no choice: 0, without asking the strategy or recording it. */
export function guarded(chooser: Chooser): Chooser {
  return { choose: (n, label, nameOf) => (n <= 1 ? 0 : chooser.choose(n, label, nameOf)) };
}

/** A strategy as plain data, so a party in another process can make the same choices. */
export type StrategySpec =
  | { readonly kind: "seeded"; readonly seed: number }
  | { readonly kind: "replay"; readonly tape: readonly Choice[]; readonly mode: ReplayOptions["mode"] };

export function strategyOf(spec: StrategySpec): Strategy {
  return spec.kind === "seeded" ? seededStrategy(spec.seed) : replayStrategy(spec.tape, { mode: spec.mode });
}
