// Run-aways and endings: a run in which a party keeps sending the same request after the same
// answer, changing nothing, ends as `stalled` naming that party, long before the step limit; a run
// still going at the step limit says so as its own ending; and beside a violation the verdict line
// carries the run's own ending.
import { describe, expect, it } from "vitest";
import type { Effect, Envelope, PartyName } from "../../protocol/index.ts";
import type { LogLine, VerdictLine } from "../../protocol/log.ts";
import { ATTACKS } from "../../src/adversaries/corpus/catalogue.ts";
import type { Delivery, OutMsg, PartyEndpoint } from "../../src/kit/party.ts";
import type { Monitor } from "../../src/monitors/monitor.ts";
import { attackScenario, classify } from "../../src/run/matrix.ts";
import { runScenario } from "../../src/run/run.ts";
import { MemoryLog } from "../../src/runtime/log-writer.ts";
import { Orchestrator } from "../../src/runtime/orchestrator.ts";
import { DEFAULT_STALL_AFTER } from "../../src/runtime/progress.ts";
import { findBuiltIn } from "../../src/scenarios/index.ts";
import { processTransport } from "../../src/transport/index.ts";

const RUN_AWAY = new URL("../fixtures/plugins/remove-behind-kvm.ts", import.meta.url).pathname;

/** A party scripted by what it sends at start and how it reacts (effects included) to a delivery. */
function party(
  name: PartyName,
  start: () => OutMsg[] = () => [],
  react: (env: Envelope) => { out: OutMsg[]; effects?: Effect[] } | "throw" = () => ({ out: [] }),
): PartyEndpoint {
  return {
    name,
    start: () => ({ out: start(), effects: [] }),
    deliver: ({ env }: Delivery) => {
      const reaction = react(env);
      if (reaction === "throw") throw new Error("plug-in bug");
      return { out: reaction.out, effects: reaction.effects ?? [] };
    },
  };
}

function run(
  parties: Partial<Record<PartyName, PartyEndpoint>>,
  options: { stallAfter?: number; monitors?: Monitor[]; maxSteps?: number } = {},
) {
  const log = new MemoryLog();
  const orchestrator = new Orchestrator({
    seed: 1,
    parties: {
      guest: parties.guest ?? party("guest"),
      host: parties.host ?? party("host"),
      trusted: parties.trusted ?? party("trusted"),
    },
    log,
    monitors: options.monitors ?? [],
    untrusted: new Set(),
    maxSteps: options.maxSteps ?? 1000,
    ...(options.stallAfter === undefined ? {} : { stallAfter: options.stallAfter }),
  });
  return orchestrator.run().then((result) => ({ result, lines: log.lines }));
}

const kick: OutMsg = {
  from: "host/kvm",
  to: "hw",
  kind: "request",
  msg: { type: "vcpu.kick", vcpu: 0 },
  ref: 1,
};
/** The hardware answers every kick the same way. */
const hw = party("trusted", undefined, (env) => ({
  out: [
    { from: "hw", to: env.from, kind: "response", re: env.id, msg: { type: "vcpu.kick", wasRunning: true } },
  ],
}));
const verdictOf = (lines: LogLine[]) => lines.at(-1) as VerdictLine;

describe("progress detection", () => {
  it("should end a run whose host repeats the same exchange, changing nothing, as stalled naming it", async () => {
    const host = party(
      "host",
      () => [kick],
      () => ({ out: [kick] }),
    );
    const { result, lines } = await run({ host, trusted: hw }, { stallAfter: 20 });
    expect(result.outcome).toBe("stalled");
    expect(result.reason).toBe(
      "host/kvm sent vcpu.kick vcpu=0 to hw 20 times and got the same answer (vcpu.kick wasRunning=true) with nothing changing in between: no progress",
    );
    // Fingerprinting starts after 64 effect-free deliveries: then 20 exchanges of two messages.
    expect(result.steps).toBe(64 + 2 * 20);
    expect(verdictOf(lines)).toMatchObject({ type: "verdict", outcome: "stalled", steps: 104 });
  });

  it("should count an effect as progress, and end a run still going at the step limit as step-limit", async () => {
    const touch: Effect = { e: "read", by: "host/kvm", hpa: 0x1000, content: { k: "zero" } };
    const host = party(
      "host",
      () => [kick],
      () => ({ out: [kick], effects: [touch] }),
    );
    const { result, lines } = await run({ host, trusted: hw }, { stallAfter: 20 });
    expect(result.outcome).toBe("step-limit");
    expect(result.reason).toBe(
      "step limit 1000 reached with 1 message still to deliver: the run did not end by itself",
    );
    expect(verdictOf(lines)).toMatchObject({ outcome: "step-limit", steps: 1000 });
  });

  it("should leave exchanges that differ alone: only the same request with the same answer repeats", async () => {
    let vcpu = 0;
    const host = party(
      "host",
      () => [kick],
      () => ({ out: [{ ...kick, msg: { type: "vcpu.kick", vcpu: ++vcpu % 4000 } }] }),
    );
    const { result } = await run({ host, trusted: hw }, { stallAfter: 20 });
    expect(result.outcome).toBe("step-limit");
  });

  it("should refuse a bound that is not a positive whole number", () => {
    expect(() => run({}, { stallAfter: 0 })).toThrow(/stallAfter must be a positive integer/);
  });
});

describe("the run-away host: a page removed behind KVM's back (TDX)", () => {
  const scenario = attackScenario(ATTACKS.find((a) => a.id === "A1")!, "tdx", "linux");

  it("should end stalled naming host/kvm under the plug-in, well before the step limit, with a bounded log", async () => {
    const run = await runScenario(scenario, { hostPlugin: RUN_AWAY, maxSteps: 200_000 });
    const { underlying } = run.result;
    expect(underlying.outcome).toBe("stalled");
    expect(underlying.reason).toBe(
      `host/kvm (under an adversarial host) re-entered guest/vcpu0 ${DEFAULT_STALL_AFTER} times on the same EPT_VIOLATION at 0x400000 with nothing changing in between: no progress`,
    );
    expect(run.result.steps).toBeLessThan(5000);
    expect(run.log.length).toBeLessThan(5000);
    // The plug-in also left the removed frame uncleared: the violation, and beside it the ending.
    expect(run.result.outcome).toBe("violation");
    expect(verdictOf(run.log)).toMatchObject({
      outcome: "violation",
      ending: { outcome: "stalled", reason: underlying.reason },
    });
    // A host denying service is allowed: in the matrix's terms, DoS.
    expect(classify(run)).toBe("DoS");
  });

  it("should honour a configured bound", async () => {
    const run = await runScenario(scenario, { hostPlugin: RUN_AWAY, maxSteps: 200_000, stallAfter: 100 });
    expect(run.result.underlying.reason).toMatch(
      /re-entered guest\/vcpu0 100 times on the same EPT_VIOLATION/,
    );
    const byDefault = await runScenario(scenario, { hostPlugin: RUN_AWAY, maxSteps: 200_000 });
    // Each repeat is an ENTER and its exit: the log is shorter by two lines per repeat not waited for.
    expect(byDefault.result.steps - run.result.steps).toBe(2 * (DEFAULT_STALL_AFTER - 100));
  });

  it("should stall at the same line with each party in its own process: it reads only the log", async () => {
    const inproc = await runScenario(scenario, { hostPlugin: RUN_AWAY, stallAfter: 50 });
    const processes = await runScenario(scenario, {
      hostPlugin: RUN_AWAY,
      stallAfter: 50,
      transport: processTransport,
    });
    expect(processes.result.underlying).toEqual(inproc.result.underlying);
    const jsonl = (log: readonly LogLine[]) => log.map((line) => JSON.stringify(line)).join("\n");
    expect(jsonl(processes.log.slice(1))).toBe(jsonl(inproc.log.slice(1)));
  }, 60_000);
});

describe("the verdict line beside a violation", () => {
  /** A monitor that reports one violation by the host at the first delivered message. */
  const tattler = (): Monitor => {
    let told = false;
    return {
      name: "tattler",
      interests: ["msg"],
      observe(_line, report) {
        if (told) return;
        told = true;
        report({
          invariant: "tested invariant",
          responsible: "host",
          evidence: [0],
          detail: "the first message",
        });
      },
    };
  };

  it("should carry the run's own ending (the host threw) beside the violation", async () => {
    const host = party(
      "host",
      () => [kick],
      () => "throw",
    );
    const { result, lines } = await run({ host, trusted: hw }, { monitors: [tattler()] });
    expect(result.outcome).toBe("violation");
    expect(result.underlying).toEqual({ outcome: "host-crashed", reason: "host threw: plug-in bug" });
    expect(verdictOf(lines)).toMatchObject({
      outcome: "violation",
      reason: "tested invariant (host): the first message",
      ending: { outcome: "host-crashed", reason: "host threw: plug-in bug" },
    });
  });

  it("should leave the ending off a verdict without a violation (it is the verdict)", async () => {
    const host = party(
      "host",
      () => [kick],
      () => "throw",
    );
    const { lines } = await run({ host, trusted: hw });
    expect(verdictOf(lines)).toMatchObject({ outcome: "host-crashed" });
    expect(verdictOf(lines)).not.toHaveProperty("ending");
  });
});

describe("the run-away of retries: an invalidation that never ends (TDX)", () => {
  it("should end stalled: KVM's RET_PF_RETRY logs a line each time round but is not progress", async () => {
    const plugin = new URL("../fixtures/plugins/hold-invalidation.ts", import.meta.url).pathname;
    const run = await runScenario(findBuiltIn("tdx/sixteen-vcpus-convert")!, {
      hostPlugin: plugin,
      maxSteps: 300_000,
      keepLog: true,
    });
    expect(run.result.outcome).toBe("stalled");
    expect(run.result.reason).toMatch(
      new RegExp(
        `^host/kvm \\(under an adversarial host\\) re-entered guest/vcpu\\d+ ${DEFAULT_STALL_AFTER} times on the same EPT_VIOLATION at 0x[0-9a-f]+ with nothing changing in between: no progress$`,
      ),
    );
    // The retries are in the log; the run still ended long before the step limit.
    const retries = run.log.filter(
      (l) => l.type === "effect" && l.effect.e === "fault" && l.effect.kind === "RET_PF_RETRY",
    );
    expect(retries.length).toBeGreaterThanOrEqual(DEFAULT_STALL_AFTER);
    expect(run.result.steps).toBeLessThan(100_000);
  }, 60_000);
});
