// The choice point: seeded choices are the run's forked generator's, a replayed tape gives back
// exactly what it holds and reports the first choice that does not fit, and a recording writes
// down every real choice (never a choice among one).
import { describe, expect, it } from "vitest";
import { type Choice, recording, replayStrategy, seededStrategy } from "../../src/kit/choice.ts";
import { Rng } from "../../src/kit/rng.ts";

describe("seededStrategy", () => {
  it("should draw the scheduler's choices from fork 1 of the seed's root generator", () => {
    const root = new Rng(42);
    const fork1 = root.fork(1);
    const chooser = seededStrategy(42).chooser("schedule");
    const expected = [5, 3, 9, 2, 7].map((n) => fork1.int(n));
    expect([5, 3, 9, 2, 7].map((n) => chooser.choose(n, "deliver"))).toEqual(expected);
  });

  it("should give the host a stream of its own (fork 3), untouched by the scheduler's choices", () => {
    const root = new Rng(7);
    root.fork(1);
    root.fork(2);
    const fork3 = root.fork(3);
    const strategy = seededStrategy(7);
    const scheduler = strategy.chooser("schedule");
    const host = strategy.chooser("host");
    for (let i = 0; i < 10; i++) scheduler.choose(4, "deliver");
    expect(host.choose(1000, "page")).toBe(fork3.int(1000));
  });

  it("should answer 0 to a choice among one without drawing", () => {
    const chooser = seededStrategy(1).chooser("schedule");
    const reference = seededStrategy(1).chooser("schedule");
    expect(chooser.choose(1, "deliver")).toBe(0);
    expect(chooser.choose(0, "deliver")).toBe(0);
    expect(chooser.choose(1000, "deliver")).toBe(reference.choose(1000, "deliver"));
  });
});

describe("recording", () => {
  it("should write down every real choice in the order made, across streams", () => {
    const strategy = recording(seededStrategy(3));
    const scheduler = strategy.chooser("schedule");
    const host = strategy.chooser("host");
    const a = scheduler.choose(3, "deliver");
    scheduler.choose(1, "deliver");
    const b = host.choose(10, "which page");
    const c = scheduler.choose(2, "deliver");
    expect(strategy.tape).toEqual([
      { stream: "schedule", label: "deliver", n: 3, value: a },
      { stream: "host", label: "which page", n: 10, value: b },
      { stream: "schedule", label: "deliver", n: 2, value: c },
    ]);
  });
});

describe("replayStrategy", () => {
  const tape: Choice[] = [
    { stream: "schedule", label: "deliver", n: 3, value: 2 },
    { stream: "host", label: "drop?", n: 2, value: 1 },
    { stream: "schedule", label: "deliver", n: 4, value: 0 },
  ];

  it("should give each stream its own choices back, in order", () => {
    const strategy = replayStrategy(tape);
    const scheduler = strategy.chooser("schedule");
    const host = strategy.chooser("host");
    expect(host.choose(2, "drop?")).toBe(1);
    expect(scheduler.choose(3, "deliver")).toBe(2);
    expect(scheduler.choose(4, "deliver")).toBe(0);
    expect(strategy.divergence).toBeUndefined();
  });

  it("should, leniently, read a value out of range as 0 and go on", () => {
    const strategy = replayStrategy(tape, { mode: "lenient" });
    const scheduler = strategy.chooser("schedule");
    expect(scheduler.choose(2, "deliver")).toBe(0);
    expect(scheduler.choose(4, "deliver")).toBe(0);
    expect(strategy.divergence).toBeUndefined();
  });

  it("should, strictly, report a value out of range as a divergence at that choice, never reuse it", () => {
    const strategy = replayStrategy(tape, { mode: "strict" });
    const scheduler = strategy.chooser("schedule");
    expect(scheduler.choose(2, "deliver")).toBe(0);
    expect(strategy.divergence).toEqual({
      stream: "schedule",
      index: 0,
      label: "deliver",
      detail: "the tape says 2, but there are only 2 to choose from",
    });
    // The first divergence stands; later choices do not overwrite it.
    scheduler.choose(1, "deliver");
    scheduler.choose(9, "deliver");
    expect(strategy.divergence?.index).toBe(0);
  });

  it("should, strictly, report a choice among a different number or for a different label", () => {
    const strategy = replayStrategy(tape);
    const scheduler = strategy.chooser("schedule");
    scheduler.choose(3, "deliver");
    scheduler.choose(5, "deliver");
    expect(strategy.divergence).toMatchObject({ stream: "schedule", index: 1 });
    expect(strategy.divergence?.detail).toContain("the tape chose among 4");
  });

  it("should, strictly, report a run that makes more choices than the tape holds", () => {
    const strategy = replayStrategy(tape);
    const host = strategy.chooser("host");
    host.choose(2, "drop?");
    expect(host.choose(2, "drop?")).toBe(0);
    expect(strategy.divergence).toMatchObject({ stream: "host", index: 1 });
    expect(strategy.divergence?.detail).toContain("more host choices than the tape holds (1)");
  });

  it("should, leniently, answer 0 past the tape's end", () => {
    const strategy = replayStrategy(tape, { mode: "lenient" });
    const host = strategy.chooser("host");
    host.choose(2, "drop?");
    expect(host.choose(7, "anything")).toBe(0);
    expect(strategy.divergence).toBeUndefined();
  });
});
