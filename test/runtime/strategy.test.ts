// Every choice of a run goes through the strategy: a recorded tape replays to the same log byte
// for byte (an adversary's own choices included, in one process or three), a tape that stops
// fitting ends the run at that very choice, and the order of deliveries is the strategy's.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { LogLine } from "../../protocol/log.ts";
import type { Choice } from "../../src/kit/choice.ts";
import { runScenario } from "../../src/run/run.ts";
import { findBuiltIn } from "../../src/scenarios/index.ts";
import { processTransport } from "../../src/transport/index.ts";

const jsonl = (lines: readonly LogLine[]) => lines.map((l) => JSON.stringify(l)).join("\n");
/** What was delivered, in order, without ids (which differ between seeds by construction). */
const order = (lines: readonly LogLine[]) =>
  lines.flatMap((l) => (l.type === "msg" ? [`${l.from}>${l.to} ${l.kind} ${l.msg.type}`] : []));

const dir = join(import.meta.dirname, ".tmp-strategy");
mkdirSync(dir, { recursive: true });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A host that, at each delivery, chooses whether to read one of the frames it handed out, and which. */
const CHOOSY = `import { defineAdversary } from "cocomem/plugins";
const frames = [];
export default defineAdversary({
  name: "choosy",
  description: "reads a frame it gave the guest whenever its choices say so",
  wrap: {
    onSend(out) {
      if (out.msg.type === "TDH.MEM.PAGE.AUG") frames.push(out.msg.hpa);
      if (out.msg.type === "__pkvm_host_donate_guest") frames.push(out.msg.pfn * 0x1000);
      return "keep";
    },
    tick(ctx) {
      // One module serves every run of this process: start each run with what this run handed out.
      if (ctx.step === 0) frames.length = 0;
      if (frames.length === 0 || ctx.choose(8, "read a frame?") !== 0) return;
      const hpa = frames[ctx.choose(frames.length, "which frame")];
      ctx.request("hw", { type: "host.access", op: "read", hpa }, undefined, "host/kvm");
    },
  },
});
`;

describe("the run's strategy", () => {
  for (const [name, seed] of [
    ["tdx/two-vcpus-convert", 5],
    ["tdx/convert-roundtrips", 2],
    ["pkvm/share-unshare", 7],
  ] as const) {
    it(`should replay the recorded tape of ${name} (seed ${seed}) to the same log, byte for byte`, async () => {
      const scenario = findBuiltIn(name)!;
      const recorded = await runScenario(scenario, { seed, recordTape: true });
      expect(recorded.tape!.length).toBeGreaterThan(10);
      expect(recorded.tape!.every((c) => c.stream === "schedule" && c.value < c.n && c.n > 1)).toBe(true);
      const replayed = await runScenario(scenario, { seed, replay: { tape: recorded.tape! } });
      expect(jsonl(replayed.log)).toBe(jsonl(recorded.log));
    });
  }

  it("should deliver in a different order under another seed, not just with other ids", async () => {
    const scenario = findBuiltIn("tdx/two-vcpus-convert")!;
    const a = await runScenario(scenario, { seed: 1 });
    const b = await runScenario(scenario, { seed: 2 });
    expect(order(b.log)).not.toEqual(order(a.log));
    expect(b.result.outcome).toBe(a.result.outcome);
  });

  it("should follow the strategy: always the first ready channel is one more valid schedule", async () => {
    const scenario = findBuiltIn("tdx/two-vcpus-convert")!;
    // A lenient replay of an empty tape answers 0 to every choice.
    const first = await runScenario(scenario, { replay: { tape: [], mode: "lenient" }, recordTape: true });
    expect(first.result.outcome).toBe("completed");
    expect(first.tape!.length).toBeGreaterThan(100);
    expect(first.tape!.every((c) => c.value === 0)).toBe(true);
    const seeded = await runScenario(scenario, { seed: 1 });
    expect(order(first.log)).not.toEqual(order(seeded.log));
  });

  it("should end the run at a choice the tape cannot make, with the log complete up to it", async () => {
    const scenario = findBuiltIn("tdx/two-vcpus-convert")!;
    const recorded = await runScenario(scenario, { seed: 3, recordTape: true });
    const tape = [...recorded.tape!];
    const at = 40;
    tape[at] = { ...tape[at]!, value: tape[at]!.n };
    const replayed = await runScenario(scenario, { seed: 3, replay: { tape } });
    expect(replayed.result.outcome).toBe("error");
    expect(replayed.result.reason).toMatch(
      new RegExp(
        `^the replay diverged at schedule choice ${at} \\("deliver"\\): the tape says ${tape[at]!.n}`,
      ),
    );
    // Every delivery before the bad choice happened exactly as recorded; none after it.
    const before = recorded.log.filter((l) => l.type === "msg").slice(0, replayed.result.steps);
    expect(replayed.log.filter((l) => l.type === "msg")).toEqual(before);
    expect(replayed.result.steps).toBeLessThan(recorded.result.steps);
    expect(replayed.log.at(-1)).toMatchObject({ type: "verdict", outcome: "error", violations: 0 });
  });

  it("should record an adversary's own choices on the tape and replay them", async () => {
    const file = join(dir, "choosy.ts");
    writeFileSync(file, CHOOSY);
    const scenario = findBuiltIn("tdx/convert-roundtrips")!;
    const recorded = await runScenario(scenario, { seed: 4, hostPlugin: file, recordTape: true });
    const hostChoices = recorded.tape!.filter((c: Choice) => c.stream === "host");
    expect(hostChoices.filter((c) => c.label === "which frame").length).toBeGreaterThan(5);
    const reads = recorded.log.filter(
      (l) => l.type === "effect" && l.effect.e === "read" && l.effect.by === "host/kvm",
    );
    expect(reads.length).toBe(hostChoices.filter((c) => c.label === "which frame").length);
    const replayed = await runScenario(scenario, {
      seed: 4,
      hostPlugin: file,
      replay: { tape: recorded.tape! },
    });
    expect(jsonl(replayed.log)).toBe(jsonl(recorded.log));
  });

  it("should make and record the same host choices with the host in its own process", async () => {
    const file = join(dir, "choosy.ts");
    writeFileSync(file, CHOOSY);
    const scenario = findBuiltIn("pkvm/boot")!;
    const inproc = await runScenario(scenario, { seed: 4, hostPlugin: file, recordTape: true });
    const processes = await runScenario(scenario, {
      seed: 4,
      hostPlugin: file,
      recordTape: true,
      transport: processTransport,
    });
    expect(jsonl(processes.log.slice(1))).toBe(jsonl(inproc.log.slice(1)));
    expect(inproc.tape!.some((c) => c.label === "which frame")).toBe(true);
    expect(processes.tape).toEqual(inproc.tape);
    const replayed = await runScenario(scenario, {
      seed: 4,
      hostPlugin: file,
      replay: { tape: inproc.tape! },
      transport: processTransport,
    });
    expect(jsonl(replayed.log.slice(1))).toBe(jsonl(inproc.log.slice(1)));
  }, 60_000);
});
