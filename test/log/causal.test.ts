import { describe, expect, it } from "vitest";
import type { LogLine } from "../../protocol/log.ts";
import { CauseIndex, formatChain } from "../../src/log/causal.ts";
import { annotate, formatLine } from "../../src/log/query.ts";
import { AroundWindow } from "../../src/log/window.ts";

/** A request from `from` to `to`, caused by the message `causedBy`. */
const msg = (seq: number, id: string, from: string, to: string, causedBy?: string): LogLine =>
  ({
    type: "msg",
    seq,
    id,
    from,
    to,
    kind: "request",
    ...(causedBy === undefined ? {} : { causedBy }),
    msg: { type: "TDH.MEM.TRACK" },
  }) as LogLine;

/** The chain of `seq` over `lines`, and how many lines the index took before it stopped. */
function chainOf(lines: LogLine[], seq: number) {
  const index = new CauseIndex(seq);
  let read = 0;
  for (const line of lines) {
    read++;
    if (!index.add(line)) break;
  }
  return { ...index.chain(), read, target: index.target };
}

describe("the chain of causes of a line", () => {
  const lines = [
    msg(0, "a", "host/vmm", "host/kvm"),
    msg(1, "b", "host/kvm", "fw", "a"),
    msg(2, "c", "guest/vcpu0", "fw"),
    {
      type: "effect",
      seq: 3,
      causedBy: "b",
      effect: { e: "lifecycle", by: "fw", state: "RUNNABLE" },
    } as LogLine,
    msg(4, "d", "fw", "host/kvm", "b"),
    msg(5, "e", "host/kvm", "fw", "zz"),
  ];

  it("should follow causedBy back to a line without one, skipping the lines in between", () => {
    expect(chainOf(lines, 4)).toMatchObject({ seqs: [4, 1, 0], read: 5 });
    expect(chainOf(lines, 3).seqs).toEqual([3, 1, 0]);
    expect(chainOf(lines, 2).seqs).toEqual([2]);
  });

  it("should stop reading at the line asked about, and not find one past the end", () => {
    expect(chainOf(lines, 1)).toMatchObject({ read: 2, target: lines[1] });
    const past = new CauseIndex(9);
    for (const line of lines) expect(past.add(line)).toBe(true);
    expect(past.target).toBeUndefined();
    expect(past.last).toBe(5);
  });

  it("should name the line whose cause is not in the log", () => {
    expect(chainOf(lines, 5)).toEqual({ seqs: [5], broken: 5, read: 6, target: lines[5] });
  });

  it("should step from a violation to its latest evidence, and never forward", () => {
    const violation = (evidence: number[]): LogLine => ({
      type: "violation",
      seq: 6,
      monitor: "integrity",
      invariant: "x",
      responsible: "host",
      evidence,
      detail: "d",
    });
    expect(chainOf([...lines, violation([1, 3])], 6).seqs).toEqual([6, 3, 1, 0]);
    expect(chainOf([...lines, violation([])], 6).seqs).toEqual([6]);
    expect(chainOf([...lines, violation([7])], 6).seqs).toEqual([6]);
  });

  it("should show the side (guest, host, fw, hw) where it changes, and mark each step back", () => {
    const steps = annotate([lines[4]!, lines[1]!, lines[0]!]);
    expect(formatChain(steps)).toEqual([
      `fw         ${formatLine(steps[0]!)}`,
      `host    <- ${formatLine(steps[1]!)}`,
      `        <- ${formatLine(steps[2]!)}`,
    ]);
  });
});

describe("a window around a line", () => {
  /** Lines 0..20; even ones pass the filters. */
  const windowOf = (anchor: number, context: number, upTo = 20) => {
    const window = new AroundWindow<number>(anchor, context);
    const out: number[] = [];
    for (let seq = 0; seq <= upTo && !window.done; seq++) out.push(...window.add(seq, seq, seq % 2 === 0));
    return { out, found: window.found, done: window.done };
  };

  it("should let out the n matching lines each side, and the anchor whatever the filters", () => {
    expect(windowOf(10, 3)).toEqual({ out: [4, 6, 8, 10, 12, 14, 16], found: true, done: true });
    expect(windowOf(11, 2).out).toEqual([8, 10, 11, 12, 14]);
    expect(windowOf(10, 0).out).toEqual([10]);
  });

  it("should keep what there is near the ends of the log", () => {
    expect(windowOf(2, 3)).toEqual({ out: [0, 2, 4, 6, 8], found: true, done: true });
    expect(windowOf(18, 3)).toEqual({ out: [12, 14, 16, 18, 20], found: true, done: false });
  });

  it("should say when the anchor never came, and skip the header", () => {
    expect(windowOf(30, 3)).toEqual({ out: [], found: false, done: false });
    expect(new AroundWindow<string>(1, 2).add(undefined, "header", true)).toEqual([]);
  });
});
