// Messages per second end to end through the whole model (orchestrator, three XState parties,
// monitors), against the same count through two bare XState actors: the ratio says how much of
// the cost is cocomem's own, whatever machine the bench runs on.
import { runScenario } from "../src/run/run.ts";
import { inTurns } from "./measure.ts";
import { acceptScenario, pkvmScenario } from "./model.ts";
import { pingPong } from "./pingpong.ts";
import { progress, type Section, show } from "./report.ts";

const PING_PONG_MESSAGES = 1_000_000;
const TARGET_RATIO = 0.5;

const rate = (messages: number, ms: number) => (messages / ms) * 1000;

/** The pKVM boot/share workload: best of 3 after a warm-up. */
async function pkvmRate(): Promise<{ steps: number; ms: number }> {
  const scenario = pkvmScenario(16384);
  let best = { steps: 0, ms: Number.POSITIVE_INFINITY };
  for (let round = 0; round < 4; round++) {
    const start = performance.now();
    const report = await runScenario(scenario, { keepLog: false });
    const ms = performance.now() - start;
    if (report.unmet.length > 0) throw new Error(`bench pKVM scenario: ${report.unmet.join("; ")}`);
    if (round > 0 && ms < best.ms) best = { steps: report.result.steps, ms };
  }
  return best;
}

export async function messageRate(): Promise<Section> {
  const scenario = acceptScenario("1G", "64M", "4K", "4K");
  progress(
    `1 GiB guest accepting 64 MiB at 4K, and bare XState ping-pong of ${show.count(PING_PONG_MESSAGES, "messages")} (warm-up + 3 rounds)`,
  );
  const [runs, pings] = await inTurns(
    async () => {
      const report = await runScenario(scenario, { keepLog: false });
      if (report.unmet.length > 0) throw new Error(`bench scenario: ${report.unmet.join("; ")}`);
      return report.result.steps;
    },
    () => pingPong(PING_PONG_MESSAGES),
  );
  // Same seed every run, so every run delivers the same messages.
  const steps = runs.values[0]!;
  const pkvm = await pkvmRate();
  const cocomem = rate(steps, runs.ms);
  const bare = rate(PING_PONG_MESSAGES, pings.ms);
  const ratio = cocomem / bare;
  return {
    title: "message rate (best of 3 after warm-up, cocomem and bare run in turns)",
    rows: [
      {
        metric: `cocomem: 1G guest, accept 64M at 4K, 4K host (${show.count(steps, "msgs")}, ${show.ms(runs.ms)})`,
        value: cocomem,
        unit: "msg/s",
        shown: show.count(cocomem, "msg/s"),
        samples: runs.all,
      },
      {
        metric: `cocomem: pKVM guest, 16384 donations + 1024 share/unshare (${show.count(pkvm.steps, "msgs")}, ${show.ms(pkvm.ms)})`,
        value: rate(pkvm.steps, pkvm.ms),
        unit: "msg/s",
        shown: show.count(rate(pkvm.steps, pkvm.ms), "msg/s"),
      },
      {
        metric: `bare XState v5 ping-pong, 2 actors (${show.count(PING_PONG_MESSAGES, "msgs")}, ${show.ms(pings.ms)})`,
        value: bare,
        unit: "msg/s",
        shown: show.count(bare, "msg/s"),
        samples: pings.all,
      },
      {
        metric: "ratio cocomem / bare",
        value: ratio,
        unit: "x",
        shown: show.ratio(ratio),
        target: `>= ${show.ratio(TARGET_RATIO)}`,
        status: ratio >= TARGET_RATIO ? "PASS" : "BELOW",
      },
    ],
  };
}
