// The process transport against the in-process one on the same scenario, beside a bare
// child_process IPC ping-pong measured in the same run (the floor any process transport stands on).
//
// The yardstick is the ping-pong's round trip, not its one-way message: with the orchestrator in
// the parent, delivering one protocol message to a party in another process is exactly one round
// trip (the delivery goes out, the party's output comes back), so a transport with no overhead at
// all would score 1.0x against round trips and 0.5x against one-way messages. Both are shown.

import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { partyOf } from "../protocol/index.ts";
import type { LogLine } from "../protocol/log.ts";
import { runScenario } from "../src/run/run.ts";
import { inprocTransport } from "../src/run/transport.ts";
import { processTransport } from "../src/transport/index.ts";
import { acceptScenario } from "./model.ts";
import { progress, type Section, show } from "./report.ts";

const ROUND_TRIPS = 20_000;
const ROUNDS = 6;
const TARGET_RATIO = 0.7;
const ECHO = fileURLToPath(new URL("./ipc-echo.ts", import.meta.url));

/** Round trips per second through a bare fork()ed child echoing JSON messages back. */
async function ipcPingPong(roundTrips: number): Promise<number> {
  const child = fork(ECHO, [], { execArgv: ["--import", "tsx"], serialization: "json" });
  await new Promise<void>((resolve) => child.once("spawn", () => resolve()));
  // A message shaped like a delivery, so the bytes per message are comparable.
  const payload = {
    type: "deliver",
    delivery: {
      env: { seq: 1, id: "aaaaaaaaaa", msg: { type: "TDH.MEM.PAGE.AUG", gpa: 4096, level: 0, hpa: 8192 } },
    },
  };
  const start = performance.now();
  await new Promise<void>((resolve) => {
    let left = roundTrips;
    child.on("message", () => {
      left--;
      if (left === 0) resolve();
      else child.send(payload);
    });
    child.send(payload);
  });
  const ms = performance.now() - start;
  child.kill();
  return (roundTrips / ms) * 1000;
}

/**
 * Best rate after the first (warm-up) round; under `process` later rounds reuse warm children.
 * `between` runs after each round, so a comparison measured there sees the same machine weather.
 */
async function scenarioRate(
  transport: "inproc" | "process",
  between: () => Promise<void> = async () => undefined,
): Promise<{ rate: number; steps: number }> {
  const scenario = acceptScenario("1G", "8M", "4K", "4K");
  let best = 0;
  let steps = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now();
    const report = await runScenario(scenario, {
      keepLog: false,
      transport: transport === "process" ? processTransport : inprocTransport,
    });
    const rate = (report.result.steps / (performance.now() - start)) * 1000;
    if (round > 0) best = Math.max(best, rate);
    steps = report.result.steps;
    await between();
  }
  return { rate: best, steps };
}

/**
 * Deliveries to the party that also took the delivery before: the only ones a batch could carry
 * without changing the log. Every other delivery needs the previous party's output to exist first.
 */
function batchable(log: LogLine[]): { same: number; deliveries: number } {
  let same = 0;
  let deliveries = 0;
  let last: string | undefined;
  for (const line of log) {
    if (line.type !== "msg") continue;
    const party = partyOf(line.to);
    if (party === last) same++;
    last = party;
    deliveries++;
  }
  return { same, deliveries };
}

export async function transportRate(): Promise<Section> {
  progress("1 GiB guest accepting 8 MiB at 4K in process and in three processes, and a bare IPC ping-pong");
  const inproc = await scenarioRate("inproc");
  let bare = 0;
  const processes = await scenarioRate("process", async () => {
    bare = Math.max(bare, await ipcPingPong(ROUND_TRIPS));
  });
  const ratio = processes.rate / bare;
  const room = batchable((await runScenario(acceptScenario("1G", "8M", "4K", "4K"))).log);
  return {
    title: `transports (best of ${ROUNDS - 1} after warm-up, process and ping-pong in turns; a delivery in \`process\` is one IPC round trip)`,
    rows: [
      {
        metric: `inproc: ${show.count(inproc.steps, "msgs")}`,
        value: inproc.rate,
        unit: "msg/s",
        shown: show.count(inproc.rate, "msg/s"),
      },
      {
        metric: `process: ${show.count(processes.steps, "msgs")}`,
        value: processes.rate,
        unit: "msg/s",
        shown: show.count(processes.rate, "msg/s"),
      },
      {
        metric: `bare child_process IPC ping-pong (${show.count(bare * 2, "one-way msg/s")})`,
        value: bare,
        unit: "round trips/s",
        shown: show.count(bare, "rt/s"),
      },
      {
        metric: "ratio process msg/s / bare IPC round trips/s",
        value: ratio,
        unit: "x",
        shown: show.ratio(ratio),
        target: `>= ${show.ratio(TARGET_RATIO)}`,
        status: ratio >= TARGET_RATIO ? "PASS" : "BELOW",
      },
      {
        metric: "ratio against one-way msgs (a hub's ceiling is 0.5x)",
        value: ratio / 2,
        unit: "x",
        shown: show.ratio(ratio / 2),
      },
      {
        metric: "batching room: deliveries to the party that took the one before",
        value: room.same,
        unit: "deliveries",
        shown: `${show.count(room.same, `of ${show.count(room.deliveries, "")}`)}(${((room.same / room.deliveries) * 100).toFixed(2)}%)`,
      },
    ],
  };
}
