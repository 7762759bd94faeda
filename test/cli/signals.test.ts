// SIGTERM and SIGHUP end `cocomem run` as Ctrl-C does (an `interrupted (SIGTERM)` verdict, a
// complete log, exit 128 + the signal's number), under both transports; and a `kill -9` of the
// `cocomem` bin leaves no process of the run behind.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { parseLog } from "../../src/log/read.ts";
import { longAcceptInput } from "../fixtures/scenarios.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const dir = join(import.meta.dirname, ".tmp-signals");
mkdirSync(dir, { recursive: true });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const scenario = join(dir, "long.json");
writeFileSync(scenario, JSON.stringify(longAcceptInput("256M")));

const lines = (file: string) => (existsSync(file) ? readFileSync(file, "utf8").split("\n").length : 0);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Start a long run through the bin, in its own process group; resolves once its log has grown. */
async function startLongRun(log: string, transport: string) {
  const cli = spawn(
    process.execPath,
    ["bin/cocomem.mjs", "run", scenario, "--log", log, "--transport", transport],
    { cwd: ROOT, detached: true, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  cli.stdout!.on("data", (chunk) => {
    out += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    cli.on("exit", (code, signal) => resolve({ code, signal })),
  );
  while (lines(log) < 2000 && cli.exitCode === null) await sleep(20);
  return { cli, exited, out: () => out };
}

/** Every live process below `pid` (from /proc: Linux only), zombies left out. */
function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = alive(Number(entry));
    if (stat) parents.set(stat.ppid, [...(parents.get(stat.ppid) ?? []), Number(entry)]);
  }
  const found: number[] = [];
  const visit = (p: number) => {
    for (const child of parents.get(p) ?? []) {
      found.push(child);
      visit(child);
    }
  };
  visit(pid);
  return found;
}

/** A process's parent, or undefined if it is gone (or a zombie, gone but not yet reaped). */
function alive(pid: number): { ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return state === "Z" || state === "X" ? undefined : { ppid: Number(ppid) };
  } catch {
    return undefined;
  }
}

function kill(cli: ChildProcess, signal: NodeJS.Signals, to: "group" | "process") {
  process.kill(to === "group" ? -cli.pid! : cli.pid!, signal);
}

describe.skipIf(process.platform === "win32")("signals during `cocomem run`", () => {
  const cases = [
    { signal: "SIGTERM", code: 143, transport: "inproc", to: "group" },
    { signal: "SIGTERM", code: 143, transport: "process", to: "group" },
    { signal: "SIGTERM", code: 143, transport: "process", to: "process" },
    { signal: "SIGHUP", code: 129, transport: "inproc", to: "group" },
    { signal: "SIGHUP", code: 129, transport: "process", to: "group" },
  ] as const;
  for (const { signal, code, transport, to } of cases) {
    it(`should end a ${transport} run on ${signal} (to the ${to}) with an interrupted verdict, a complete log and exit ${code}`, async () => {
      const log = join(dir, `${signal}-${transport}-${to}.jsonl`);
      const run = await startLongRun(log, transport);
      kill(run.cli, signal, to);
      expect(await run.exited).toEqual({ code, signal: null });
      expect(run.out()).toMatch(
        new RegExp(`outcome {3}error: interrupted \\(${signal}\\) after \\d+ deliveries`),
      );
      const read = parseLog(readFileSync(log, "utf8"), log);
      expect(read.ok ? "ok" : read.message).toBe("ok");
      expect(read.ok && read.lines.at(-1)).toMatchObject({
        type: "verdict",
        outcome: "error",
        reason: expect.stringContaining(`interrupted (${signal})`),
      });
    }, 60_000);
  }

  it("should leave no process behind, nor a torn log line, when the bin is killed with SIGKILL", async () => {
    const log = join(dir, "sigkill.jsonl");
    const run = await startLongRun(log, "process");
    const below = descendants(run.cli.pid!);
    // The run's own processes: its three parties at least (and, before, the CLI under the bin).
    expect(below.length).toBeGreaterThanOrEqual(3);
    kill(run.cli, "SIGKILL", "process");
    await run.exited;
    const deadline = performance.now() + 5000;
    while (below.some((pid) => alive(pid)) && performance.now() < deadline) await sleep(50);
    const left = below.filter((pid) => alive(pid));
    // Whatever the outcome, this test leaves nothing running either.
    for (const pid of left) process.kill(pid, "SIGKILL");
    expect(left).toEqual([]);
    const text = readFileSync(log, "utf8");
    expect(text.endsWith("\n")).toBe(true);
    for (const line of text.slice(0, -1).split("\n")) expect(() => JSON.parse(line)).not.toThrow();
  }, 60_000);
});
