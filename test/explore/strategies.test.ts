// Each of the explorer's strategies finds a bug planted in a tiny model, and bounded search counts
// and exhausts its space exactly. The toy models make choices through the same Strategy interface
// a cocomem run does, so what is tested is the strategies alone.
import { describe, expect, it } from "vitest";
import { FULL_MIX } from "../../src/adversaries/any/mix.ts";
import { BoundedDfs, singleDeparture } from "../../src/explore/dfs.ts";
import { lenient, pctChooser, randomPlan, runSeed, strategyOfPlan } from "../../src/explore/strategies.ts";
import { type Choice, recording, type Strategy } from "../../src/kit/choice.ts";
import { Rng } from "../../src/kit/rng.ts";

/**
 * A host with 12 steps; at each it may act (decision "act", 0 = honest) with one of 4 actions.
 * The planted bug: action 3 at some step, then action 1 at a later one.
 */
function hostToy(strategy: Strategy): boolean {
  const host = strategy.chooser("host");
  let armed = false;
  for (let step = 0; step < 12; step++) {
    if (host.choose(2, "act") === 0) continue;
    const action = host.choose(4, "arg action");
    if (action === 3) armed = true;
    else if (action === 1 && armed) return true;
  }
  return false;
}

/**
 * Two senders, A and B, each with 10 messages in order; the scheduler picks a ready channel. The
 * planted ordering bug (depth 2: one switch, at the right moment): B's first message is delivered
 * before A's first, and B's second only after all of A's.
 */
const TOY_MESSAGES = 10;
function orderToy(strategy: Strategy): boolean {
  const schedule = strategy.chooser("schedule");
  const sent = { A: 0, B: 0 };
  const order: string[] = [];
  while (sent.A < TOY_MESSAGES || sent.B < TOY_MESSAGES) {
    const ready = (["A", "B"] as const).filter((c) => sent[c] < TOY_MESSAGES);
    const pick = ready[schedule.choose(ready.length, "deliver", (i) => ready[i]!)]!;
    sent[pick]++;
    order.push(`${pick}${sent[pick]}`);
  }
  const at = (m: string) => order.indexOf(m);
  return at("B1") < at("A1") && at("B2") > at(`A${TOY_MESSAGES}`);
}

/** The first run (of at most `budget`) whose strategy finds the bug, or -1. */
function firstFinding(bug: (s: Strategy) => boolean, strategyFor: (run: number) => Strategy, budget: number) {
  for (let run = 0; run < budget; run++) if (bug(strategyFor(run))) return run;
  return -1;
}

describe("the explorer's strategies on tiny models with a planted bug", () => {
  it("random finds the host bug (two actions in order)", () => {
    const run = firstFinding(
      hostToy,
      (i) => strategyOfPlan(randomPlan("random", runSeed(1, i), "tdx")),
      2000,
    );
    expect(run).toBeGreaterThanOrEqual(0);
  });

  it("swarm finds it too, with its own mix per run", () => {
    const run = firstFinding(hostToy, (i) => strategyOfPlan(randomPlan("swarm", runSeed(1, i), "tdx")), 2000);
    expect(run).toBeGreaterThanOrEqual(0);
    // The mix is drawn per run: not every run gets the full one.
    const mixes = new Set(
      Array.from({ length: 20 }, (_, i) => JSON.stringify(randomPlan("swarm", runSeed(1, i), "tdx").mix)),
    );
    expect(mixes.size).toBeGreaterThan(10);
    expect(randomPlan("random", runSeed(1, 0), "tdx").mix).toEqual(FULL_MIX);
  });

  it("pct finds the ordering bug of depth 2, and far more often than uniform random", () => {
    const withPct = (i: number): Strategy => {
      const chooser = pctChooser(new Rng(i), 3, 2 * TOY_MESSAGES);
      return { divergence: undefined, chooser: () => chooser };
    };
    const hits = (strategyFor: (i: number) => Strategy) =>
      Array.from({ length: 400 }, (_, i) => orderToy(strategyFor(i))).filter(Boolean).length;
    const pct = hits(withPct);
    const random = hits((i) => strategyOfPlan(randomPlan("random", runSeed(1, i), "tdx")));
    // Uniform random needs B, then ten A's in a row: about 1 run in 2^11.
    expect(random).toBeLessThanOrEqual(1);
    expect(pct).toBeGreaterThan(4);
    expect(pct).toBeGreaterThan(4 * random);
  });

  it("bounded dfs exhausts depth 3 without the bug, and finds it at depth 4 (it needs 4 departures)", async () => {
    const search = async (depth: number) => {
      let runs = 0;
      let found: readonly Choice[] | undefined;
      const dfs = new BoundedDfs(async (tape) => {
        runs++;
        const recorded = recording(lenient(tape));
        if (hostToy(recorded) && !found) found = recorded.tape;
        return recorded.tape;
      }, depth);
      while ((await dfs.next()) !== undefined);
      return { runs, found, exhausted: dfs.exhausted };
    };
    const one = await search(1);
    // The root run takes every default: 12 "act" choices of 2; depth 1 changes one of them.
    expect(one).toEqual({ runs: 13, found: undefined, exhausted: true });
    const three = await search(3);
    expect(three.exhausted).toBe(true);
    expect(three.found).toBeUndefined();
    const four = await search(4);
    expect(four.found?.filter((c) => c.value !== 0).map((c) => `${c.label}=${c.value}`)).toEqual([
      "act=1",
      "arg action=3",
      "act=1",
      "arg action=1",
    ]);
  });

  it("names the single departures from a root run in order, and no more", () => {
    const root: Choice[] = [
      { stream: "host", label: "act", n: 3, value: 0 },
      { stream: "schedule", label: "deliver", n: 2, value: 0 },
    ];
    const values = Array.from({ length: 4 }, (_, j) => singleDeparture(root, j)?.map((c) => c.value));
    expect(values).toEqual([[1], [2], [0, 1], undefined]);
  });

  it("gives run i the same plan whoever asks (no hidden state)", () => {
    expect(randomPlan("swarm", runSeed(5, 42), "pkvm")).toEqual(randomPlan("swarm", runSeed(5, 42), "pkvm"));
    expect(runSeed(5, 42)).not.toBe(runSeed(5, 43));
    expect(runSeed(5, 42)).not.toBe(runSeed(6, 42));
  });
});
