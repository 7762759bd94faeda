// Warm party processes: a clean run hands its children back for the next run, which must behave
// exactly as if they were fresh; a plug-in's process is never reused; idle children neither keep
// the program alive nor outlive it; and no party process outlives an orchestrator killed outright.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { LogLine } from "../../protocol/log.ts";
import { runScenario } from "../../src/run/run.ts";
import { findBuiltIn } from "../../src/scenarios/index.ts";
import { processTransport } from "../../src/transport/index.ts";
import { partyProcesses, running, until } from "./processes.ts";

const dir = join(import.meta.dirname, ".tmp-pool");
mkdirSync(dir, { recursive: true });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const root = join(import.meta.dirname, "../..");
const scenario = findBuiltIn("tdx/punch-hole")!;
const expected = scenario.spec.expect.outcome;

/** Process ids of the party processes this process forked. */
const children = () => partyProcesses().map((p) => p.pid);

const body = (log: LogLine[]) => log.filter((line) => line.type !== "header").map((l) => JSON.stringify(l));

describe("the party process pool", () => {
  it("should run the next scenario in the same processes, with the same log as fresh ones", async () => {
    const first = await runScenario(scenario, { transport: processTransport });
    const afterFirst = children();
    expect(afterFirst.length).toBeGreaterThanOrEqual(3);
    const second = await runScenario(scenario, { transport: processTransport });
    expect(children()).toEqual(afterFirst);
    expect(second.result.outcome).toBe(expected);
    expect(body(second.log)).toEqual(body(first.log));
  }, 60_000);

  it("should kill a plug-in host's process after a clean run rather than reuse it", async () => {
    const pidFile = join(dir, "quiet.pid");
    const file = join(dir, "quiet.ts");
    writeFileSync(
      file,
      `import { writeFileSync } from "node:fs";
import { defineAdversary } from "cocomem/plugins";
writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));
export default defineAdversary({ name: "quiet", description: "changes nothing", wrap: {} });
`,
    );
    const run = await runScenario(scenario, { transport: processTransport, hostPlugin: file });
    expect(run.result.outcome).toBe(expected);
    const pid = Number(readFileSync(pidFile, "utf8"));
    await until(() => !running(pid));
    expect(children()).not.toContain(pid);
  }, 60_000);

  it("should let the program end on its own, taking its idle children with it", async () => {
    const script = join(dir, "main.ts");
    writeFileSync(
      script,
      `import { runScenario } from ${JSON.stringify(join(root, "src/run/run.ts"))};
import { processTransport } from ${JSON.stringify(join(root, "src/transport/index.ts"))};
import { findBuiltIn } from ${JSON.stringify(join(root, "src/scenarios/index.ts"))};
import { partyProcesses } from ${JSON.stringify(join(import.meta.dirname, "processes.ts"))};
const run = await runScenario(findBuiltIn("tdx/punch-hole")!, { transport: processTransport });
const pids = partyProcesses().map((p) => p.pid);
console.log(JSON.stringify({ outcome: run.result.outcome, pids }));
`,
    );
    // No process.exit in the script: it must end because nothing is left to wait for.
    const ran = spawnSync(process.execPath, ["--import", "tsx", script], {
      cwd: root,
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(ran.signal).toBeNull();
    expect(ran.status).toBe(0);
    const { outcome, pids } = JSON.parse(ran.stdout.trim().split("\n").at(-1)!) as {
      outcome: string;
      pids: number[];
    };
    expect(outcome).toBe(expected);
    // The three parties' processes, idle in the pool.
    expect(pids).toHaveLength(3);
    await until(() => !pids.some(running));
  }, 60_000);

  it("should not let party processes outlive an orchestrator killed with SIGKILL", async () => {
    const script = join(dir, "killed.mts");
    writeFileSync(
      script,
      `import { runScenario } from ${JSON.stringify(join(root, "src/run/run.ts"))};
import { processTransport } from ${JSON.stringify(join(root, "src/transport/index.ts"))};
import { longAccept } from ${JSON.stringify(join(import.meta.dirname, "processes.ts"))};
await runScenario(longAccept("256M"), { transport: processTransport });
`,
    );
    const orchestrator = spawn(process.execPath, ["--import", "tsx", script], { cwd: root, stdio: "ignore" });
    let parties: number[] = [];
    await until(() => {
      parties = partyProcesses(orchestrator.pid!).map((p) => p.pid);
      return parties.length === 3;
    });
    orchestrator.kill("SIGKILL");
    // Gone, or exited and waiting to be reaped (a zombie runs nothing).
    await until(() => !parties.some(running));
  }, 60_000);
});
