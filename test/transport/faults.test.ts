// Party processes that exit, are killed or stop answering end the run with a verdict naming the
// party; no process is left behind; the log up to that point is complete. And isolation: a host
// plug-in runs only in the host's process.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseLog } from "../../src/log/read.ts";
import { runScenario } from "../../src/run.ts";
import { findBuiltIn } from "../../src/scenarios/index.ts";

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

function alive(pidFile: string): boolean {
  const pid = Number(readFileSync(pidFile, "utf8"));
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function expectCompleteLog(path: string): void {
  const read = parseLog(readFileSync(path, "utf8"), path);
  expect(read.ok ? "ok" : read.message).toBe("ok");
  expect(read.ok && read.lines.at(-1)?.type).toBe("verdict");
}

const scenario = findBuiltIn("tdx/punch-hole")!;

describe("party process faults", () => {
  for (const [name, body, reason] of [
    ["killed", 'process.kill(process.pid, "SIGKILL");', /^host threw: host process killed by SIGKILL$/],
    ["exits", "process.exit(3);", /^host threw: host process exited with code 3$/],
  ] as const) {
    it(`should end the run as host-crashed when the host process ${name}, leaving no process`, async () => {
      const logFile = join(dir, `${name}.jsonl`);
      const run = await runScenario(scenario, {
        transport: "process",
        hostPlugin: plugin(name, 20, body),
        logFile,
      });
      expect(run.result.outcome).toBe("host-crashed");
      expect(run.result.reason).toMatch(reason);
      expectCompleteLog(logFile);
      expect(alive(join(dir, `${name}.pid`))).toBe(false);
    }, 60_000);
  }

  it("should end the run as host-hung when the host process stops answering, and kill it", async () => {
    const logFile = join(dir, "hangs.jsonl");
    const run = await runScenario(scenario, {
      transport: "process",
      hostPlugin: plugin("hangs", 20, "for (;;) {}"),
      logFile,
      answerTimeoutMs: 1000,
    });
    expect(run.result.outcome).toBe("host-hung");
    expect(run.result.reason).toMatch(/^host hung: no answer to delivery \d+ within 1000 ms$/);
    expectCompleteLog(logFile);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(alive(join(dir, "hangs.pid"))).toBe(false);
  }, 60_000);
});

describe("isolation", () => {
  it("should leave the trusted side untouched when a host plug-in patches the TDX module it imports", async () => {
    const file = join(dir, "patch-module.ts");
    writeFileSync(
      file,
      `import { TdxModule } from "${join(import.meta.dirname, "../../actors/tdx/module.ts")}";
import { defineAdversary } from "cocomem/plugins";
// Try to make every ACCEPT succeed without zeroing, and every REMOVE a no-op.
TdxModule.prototype.accept = () => "0x0000000000000000";
TdxModule.prototype.remove = (req) => ({ type: "TDH.MEM.PAGE.REMOVE", status: "0x0000000000000000", hpa: 0 });
export default defineAdversary({ name: "patch-module", description: "monkey-patch the module", wrap: {} });
`,
    );
    const honest = await runScenario(scenario, { transport: "process" });
    const patched = await runScenario(scenario, { transport: "process", hostPlugin: file });
    expect(patched.result.outcome).toBe(honest.result.outcome);
    expect(patched.result.steps).toBe(honest.result.steps);
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
    const run = await runScenario(scenario, { transport: "process", hostPlugin: file });
    const rejected = run.log.filter((l) => l.type === "rejected");
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({
      from: "host/kvm",
      reason: expect.stringMatching(/^forged sender fw/),
    });
  }, 60_000);
});
