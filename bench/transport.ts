// The process transport against the in-process one on the same scenario, beside a bare
// child_process IPC ping-pong measured in the same run (the floor any process transport stands on).
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { runScenario } from "../src/run.ts";
import { acceptScenario } from "./model.ts";
import { progress, type Section, show } from "./report.ts";

const PING_PONG_MESSAGES = 40_000;
const TARGET_RATIO = 0.7;
const ECHO = fileURLToPath(new URL("./ipc-echo.ts", import.meta.url));

/** Messages per second through a bare fork()ed child echoing JSON messages back (each way counts). */
async function ipcPingPong(messages: number): Promise<number> {
  const child = fork(ECHO, [], { execArgv: ["--import", "tsx"], serialization: "json" });
  await new Promise<void>((resolve) => child.once("spawn", () => resolve()));
  // A message shaped like a delivery, so the bytes per message are comparable.
  const payload = {
    type: "deliver",
    delivery: {
      env: { seq: 1, id: "aaaaaaaaaa", msg: { type: "TDH.MEM.PAGE.AUG", gpa: 4096, level: 0, hpa: 8192 } },
    },
  };
  const rounds = messages / 2;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    let left = rounds;
    child.on("message", () => {
      left--;
      if (left === 0) resolve();
      else child.send(payload);
    });
    child.send(payload);
  });
  const ms = performance.now() - start;
  child.kill();
  return (messages / ms) * 1000;
}

async function scenarioRate(transport: "inproc" | "process"): Promise<{ rate: number; steps: number }> {
  const scenario = acceptScenario("1G", "8M", "4K", "4K");
  let best = 0;
  let steps = 0;
  for (let round = 0; round < 3; round++) {
    const start = performance.now();
    const report = await runScenario(scenario, { keepLog: false, transport });
    const rate = (report.result.steps / (performance.now() - start)) * 1000;
    if (round > 0) best = Math.max(best, rate);
    steps = report.result.steps;
  }
  return { rate: best, steps };
}

export async function transportRate(): Promise<Section> {
  progress("1 GiB guest accepting 8 MiB at 4K in process and in three processes, and a bare IPC ping-pong");
  const inproc = await scenarioRate("inproc");
  const processes = await scenarioRate("process");
  const bare = Math.max(await ipcPingPong(PING_PONG_MESSAGES), await ipcPingPong(PING_PONG_MESSAGES));
  const ratio = processes.rate / bare;
  return {
    title: "transports (best of 2 after warm-up; each delivery in `process` is one IPC round trip)",
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
        metric: `bare child_process IPC ping-pong (${show.count(PING_PONG_MESSAGES, "msgs")})`,
        value: bare,
        unit: "msg/s",
        shown: show.count(bare, "msg/s"),
      },
      {
        metric: "ratio process / bare IPC",
        value: ratio,
        unit: "x",
        shown: show.ratio(ratio),
        target: `>= ${show.ratio(TARGET_RATIO)}`,
        status: ratio >= TARGET_RATIO ? "PASS" : "BELOW",
      },
    ],
  };
}
