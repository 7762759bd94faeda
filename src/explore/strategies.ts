// How the explorer makes a run's choices. Every strategy is a Strategy of src/kit/choice.ts, so
// the run records its tape the same way whichever made it, and a replay needs only the tape.
//   random: uniform delivery order; the host mostly honest (choice 0) at a rate drawn per run.
//   pct:    probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010): channels get random
//           priorities, the highest ready one delivers, and at d-1 random steps the running one
//           drops to the bottom; finds any bug of depth d with probability >= 1/(n k^(d-1)).
//   swarm:  random, with a per-run mix of the adversary's action kinds (any/mix.ts).
//   dfs:    bounded exhaustive search over the tape (dfs.ts).
import type { Platform } from "../../protocol/index.ts";
import { DECISIONS, decisionOf } from "../adversaries/any/adversary.ts";
import { FULL_MIX, type Mix, swarmMix } from "../adversaries/any/mix.ts";
import { type Chooser, guarded, replayStrategy, type Strategy, type Stream } from "../kit/choice.ts";
import { Rng } from "../kit/rng.ts";

export type StrategyName = "random" | "pct" | "swarm" | "dfs";
export const STRATEGY_NAMES: readonly (StrategyName | "portfolio")[] = [
  "portfolio",
  "random",
  "pct",
  "swarm",
  "dfs",
];
/** Portfolio: the run's index picks its strategy, in this rotation. */
export const PORTFOLIO: readonly StrategyName[] = ["random", "pct", "swarm", "dfs"];

/** PCT's bug depth: the number of ordering constraints a bug needs (Burckhardt et al.'s d). */
const PCT_DEPTH = 3;
/** PCT's estimate of a run's length in deliveries, where its change points fall. */
const PCT_STEPS = 200;
/**
 * How often the host takes the honest path (choice 0) at a decision of one kind ("act", "send",
 * "build"): a rate drawn per run and kind, so some runs act rarely and some often. A run of ~100
 * host steps needs rates near 1 for a handful of actions. Arguments are drawn uniformly.
 */
const HONEST_RATES = [0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 1];
/** Build flags are few and decisive: flip none, about half, or (nearly) all of them. */
const BUILD_RATES = [0, 0.5, 1];
/** The host sends ~40 requests a run and one withheld usually ends it: tamper rarely. */
const SEND_RATES = [0.95, 0.99, 0.995, 0.999, 1];
const RATES: Readonly<Record<string, readonly number[]>> = {
  act: HONEST_RATES,
  send: SEND_RATES,
  build: BUILD_RATES,
};

/** What a run of a random, pct or swarm strategy needs besides its seed: all plain data. */
export interface RandomPlan {
  readonly strategy: Exclude<StrategyName, "dfs">;
  readonly seed: number;
  readonly mix: Mix;
}

/** The seed of the explorer's i-th run: a pure function of the exploration's seed and i. */
export function runSeed(seed: number, index: number): number {
  return new Rng(seed, 0x10000 + index).nextU32();
}

export function randomPlan(
  strategy: Exclude<StrategyName, "dfs">,
  seed: number,
  platform: Platform,
): RandomPlan {
  const mix = strategy === "swarm" ? swarmMix(new Rng(seed, 7), platform) : FULL_MIX;
  return { strategy, seed, mix };
}

/** The Strategy of a random, pct or swarm run. */
export function strategyOfPlan(plan: RandomPlan): Strategy {
  const rng = new Rng(plan.seed);
  const schedule = rng.fork(1);
  const host = rng.fork(2);
  const rates = rng.fork(3);
  const honest = new Map<string | undefined, number>(
    DECISIONS.map((kind) => {
      const list = RATES[kind]!;
      return [kind, list[rates.int(list.length)]!];
    }),
  );
  const choosers: Record<Stream, Chooser> = {
    schedule:
      plan.strategy === "pct" ? pctChooser(schedule, PCT_DEPTH) : guarded({ choose: (n) => schedule.int(n) }),
    host: guarded({
      choose(n, label) {
        const rate = honest.get(decisionOf(label));
        return rate !== undefined && host.int(1_000_000) < rate * 1_000_000 ? 0 : host.int(n);
      },
    }),
  };
  return { divergence: undefined, chooser: (stream) => choosers[stream] };
}

/**
 * PCT's scheduler: the ready channel of highest priority; d-1 change points, spread over the
 * `steps` a run is expected to take, demote the channel chosen there.
 */
export function pctChooser(rng: Rng, depth: number, steps = PCT_STEPS): Chooser {
  const priorities = new Map<string, number>();
  const changeAt = new Set(Array.from({ length: depth - 1 }, () => 1 + rng.int(steps)));
  let step = 0;
  let demoted = 0;
  return guarded({
    choose(n, _label, nameOf) {
      step++;
      if (!nameOf) return rng.int(n);
      let best = 0;
      let bestPriority = Number.NEGATIVE_INFINITY;
      for (let i = 0; i < n; i++) {
        const name = nameOf(i);
        let priority = priorities.get(name);
        if (priority === undefined) {
          // Initial priorities lie above every demoted one (demotions count up from 0 to d-1).
          priority = depth + rng.int(1_000_000);
          priorities.set(name, priority);
        }
        if (priority > bestPriority) {
          best = i;
          bestPriority = priority;
        }
      }
      if (changeAt.has(step)) priorities.set(nameOf(best), demoted++);
      return best;
    },
  });
}

/** A tape replayed leniently: past its end every choice is 0 (the honest host, the first channel). */
export const lenient = (tape: Parameters<typeof replayStrategy>[0]): Strategy =>
  replayStrategy(tape, { mode: "lenient" });
