// Party processes that exit, are killed or stop answering end the run with a verdict naming the
// party; no process is left behind; the log up to that point is complete. And isolation: a host
// plug-in runs only in the host's process.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TdxModule } from "../../actors/trusted/tdx/module.ts";
import { parseLog } from "../../src/log/read.ts";
import { runScenario } from "../../src/run/run.ts";
import { findBuiltIn } from "../../src/scenarios/index.ts";
import { checkPluginInChild } from "../../src/transport/check-plugin.ts";
import { processTransport } from "../../src/transport/index.ts";
import { longAccept, playing, running, until } from "./processes.ts";

const dir = join(import.meta.dirname, ".tmp-transport");
mkdirSync(dir, { recursive: true });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A wrap plug-in whose onReceive body runs at the host's `step`-th delivery, in the host's process. */
function plugin(name: string, atStep: number, body: string): string {
  const file = join(dir, `${name}.ts`);
  writeFileSync(
    file,
    `import { writeFileSync } from "node:fs";
import { defineAdversary } from "cocomem/plugins";
writeFileSync(${JSON.stringify(join(dir, `${name}.pid`))}, String(process.pid));
export default defineAdversary({
  name: ${JSON.stringify(name)},
  description: "fault injection",
  wrap: {
    onReceive(_env, ctx) {
      if (ctx.step === ${atStep}) { ${body} }
      return "keep";
    },
  },
});
`,
  );
  return file;
}

const pidIn = (file: string) => Number(readFileSync(join(dir, file), "utf8"));

function expectCompleteLog(path: string): void {
  const read = parseLog(readFileSync(path, "utf8"), path);
  expect(read.ok ? "ok" : read.message).toBe("ok");
  expect(read.ok && read.lines.at(-1)?.type).toBe("verdict");
}

const scenario = findBuiltIn("tdx/punch-hole")!;

/** Long enough (~33k messages) to be killed in the middle of. */
const long = longAccept("8M");

describe("party process faults", () => {
  for (const [name, body, reason] of [
    ["killed", 'process.kill(process.pid, "SIGKILL");', /^host threw: host process killed by SIGKILL$/],
    ["exits", "process.exit(3);", /^host threw: host process exited with code 3$/],
  ] as const) {
    it(`should end the run as host-crashed when the host process ${name}, leaving no process`, async () => {
      const logFile = join(dir, `${name}.jsonl`);
      const run = await runScenario(scenario, {
        transport: processTransport,
        hostPlugin: plugin(name, 20, body),
        logFile,
      });
      expect(run.result.outcome).toBe("host-crashed");
      expect(run.result.reason).toMatch(reason);
      expectCompleteLog(logFile);
      expect(running(pidIn(`${name}.pid`))).toBe(false);
    }, 60_000);
  }

  it("should end the run as an error naming the trusted side when its process is killed from outside", async () => {
    const logFile = join(dir, "trusted-killed.jsonl");
    const pending = runScenario(long, { transport: processTransport, logFile });
    // Once messages flow every child has been initialised, so the titles name this run's parties.
    await until(() => existsSync(logFile) && readFileSync(logFile, "utf8").split("\n").length > 200);
    const pid = playing("trusted");
    process.kill(pid, "SIGKILL");
    const run = await pending;
    expect(run.result.outcome).toBe("error");
    expect(run.result.reason).toBe("trusted threw: trusted process killed by SIGKILL");
    expect(run.result.steps).toBeLessThan(30_000);
    expectCompleteLog(logFile);
    expect(running(pid)).toBe(false);
  }, 60_000);

  it("should end the run as an error naming the guest when its process is stopped (SIGSTOP), and kill it", async () => {
    const logFile = join(dir, "guest-stopped.jsonl");
    const pending = runScenario(long, { transport: processTransport, logFile, answerTimeoutMs: 500 });
    await until(() => existsSync(logFile) && readFileSync(logFile, "utf8").split("\n").length > 200);
    const pid = playing("guest");
    process.kill(pid, "SIGSTOP");
    const run = await pending;
    expect(run.result.outcome).toBe("error");
    expect(run.result.reason).toMatch(/^guest hung: no answer to delivery \d+ within 500 ms$/);
    expectCompleteLog(logFile);
    await until(() => !running(pid));
  }, 60_000);

  it("should end the run as host-hung when the host process stops answering, and kill it", async () => {
    const logFile = join(dir, "hangs.jsonl");
    const run = await runScenario(scenario, {
      transport: processTransport,
      hostPlugin: plugin("hangs", 20, "for (;;) {}"),
      logFile,
      answerTimeoutMs: 1000,
    });
    expect(run.result.outcome).toBe("host-hung");
    expect(run.result.reason).toMatch(/^host hung: no answer to delivery \d+ within 1000 ms$/);
    expectCompleteLog(logFile);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(running(pidIn("hangs.pid"))).toBe(false);
  }, 60_000);
});

describe("isolation", () => {
  it("should leave the trusted side untouched when a host plug-in patches the TDX module it imports", async () => {
    const file = join(dir, "patch-module.ts");
    writeFileSync(
      file,
      `import { TdxModule } from "${join(import.meta.dirname, "../../actors/trusted/tdx/module.ts")}";
import { defineAdversary } from "cocomem/plugins";
// Try to make every ACCEPT succeed without zeroing, and every REMOVE a no-op.
TdxModule.prototype.accept = () => "0x0000000000000000";
TdxModule.prototype.remove = (req) => ({ type: "TDH.MEM.PAGE.REMOVE", status: "0x0000000000000000", hpa: 0 });
export default defineAdversary({ name: "patch-module", description: "monkey-patch the module", wrap: {} });
`,
    );
    const honest = await runScenario(scenario, { transport: processTransport });
    const patched = await runScenario(scenario, { transport: processTransport, hostPlugin: file });
    expect(patched.result.outcome).toBe(honest.result.outcome);
    expect(patched.result.steps).toBe(honest.result.steps);
    // The contrast, so this test can fail: in one process the same plug-in does reach the module.
    const saved = { accept: TdxModule.prototype.accept, remove: TdxModule.prototype.remove };
    try {
      const shared = await runScenario(scenario, { hostPlugin: file });
      expect(shared.result.steps).not.toBe(honest.result.steps);
    } finally {
      Object.assign(TdxModule.prototype, saved);
    }
  }, 60_000);

  it("should give up on a plug-in whose loading never ends, and kill the process that tried", async () => {
    const file = join(dir, "spins.ts");
    writeFileSync(
      file,
      `import { writeFileSync } from "node:fs";
writeFileSync(${JSON.stringify(join(dir, "spins.pid"))}, String(process.pid));
for (;;) {}
`,
    );
    // Long enough for a loaded machine to fork the child and reach the plug-in's code.
    const checked = await checkPluginInChild(file, 4000);
    expect(checked).toEqual({
      ok: false,
      error: `${file}: could not be loaded (it did not finish loading within 4000 ms)`,
    });
    const pid = pidIn("spins.pid");
    await until(() => !running(pid));
  }, 60_000);

  it("should refuse a message with a forged sender from the host process, stamping the real one", async () => {
    const file = join(dir, "forge.ts");
    writeFileSync(
      file,
      `import { defineAdversary } from "cocomem/plugins";
let forged = false;
export default defineAdversary({
  name: "forge",
  description: "sends a response as if it were the TDX module",
  wrap: {
    onSend(out) {
      if (!forged && out.msg.type === "TDH.MEM.PAGE.AUG") {
        forged = true;
        return { replace: { ...out, from: "fw" } };
      }
      return "keep";
    },
  },
});
`,
    );
    const run = await runScenario(scenario, { transport: processTransport, hostPlugin: file });
    const rejected = run.log.filter((l) => l.type === "rejected");
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({
      from: "host/kvm",
      reason: expect.stringMatching(/^forged sender fw/),
    });
  }, 60_000);
});
