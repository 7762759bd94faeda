// What `cocomem run` shows when a violation and the run's own ending are both there: the verdict
// block prints both, the log's verdict line carries both; and `--stall-after` bounds a run-away.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseLog } from "../../src/log/read.ts";
import { touchAfterMilestone } from "../fixtures/scenarios.ts";
import { cli, expectUsageError } from "./capture.ts";

// Inside the package, so `cocomem/plugins` resolves as it does for a user's file.
const dir = join(import.meta.dirname, ".tmp-verdict-ending");
mkdirSync(dir, { recursive: true });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RUN_AWAY = new URL("../fixtures/plugins/remove-behind-kvm.ts", import.meta.url).pathname;

/** A TDX guest that accepts and writes a few pages, posts a milestone, then reads them back. */
const scenario = join(dir, "touch-after-milestone.json");
writeFileSync(scenario, JSON.stringify(touchAfterMilestone));

/** Removes the guest's page at the milestone without clearing it (a violation), then throws. */
const removeThenThrow = join(dir, "remove-then-throw.ts");
writeFileSync(
  removeThenThrow,
  `import { defineAdversary } from "cocomem/plugins";
const A = 0x400000;
let removed = false;
export default defineAdversary({
  name: "remove-then-throw",
  description: "remove the guest's page at its milestone, never clear it, then give up",
  wrap: {
    tick(ctx) {
      if (ctx.step === 0) removed = false;
    },
    onReceive(env, ctx) {
      if (removed) throw new Error("the plug-in gave up");
      const exit = (env.msg as { exit?: { reason?: string } }).exit;
      if (env.kind === "response" && exit?.reason === "IO_INSTRUCTION") {
        ctx.request("fw", { type: "TDH.MEM.RANGE.BLOCK", gpa: A, level: 0 }, () =>
          ctx.request("fw", { type: "TDH.MEM.TRACK" }, () =>
            ctx.request("fw", { type: "TDH.MEM.PAGE.REMOVE", gpa: A, level: 0 }, () => {
              removed = true;
            }),
          ),
        );
      }
      return "keep";
    },
  },
});
`,
);

const SANITISATION =
  "a page leaving the TD is cleared by the host (MOVDIR64B) (host): released by the TD and never cleared";

describe("cocomem run: a violation and the run's own ending", () => {
  it("should print both when the host threw, and write both on the log's verdict line", async () => {
    const log = join(dir, "crash.jsonl");
    const result = await cli("run", scenario, "--host", removeThenThrow, "--log", log);
    expect(result.code).toBe(1);
    expect(result.out).toContain(`outcome   violation: ${SANITISATION}\n`);
    expect(result.out).toContain(
      "ending    the run itself ended host-crashed: host threw: the plug-in gave up\n",
    );
    const read = parseLog(readFileSync(log, "utf8"), log);
    expect(read.ok).toBe(true);
    expect(read.ok && read.lines.at(-1)).toMatchObject({
      type: "verdict",
      outcome: "violation",
      reason: SANITISATION,
      ending: { outcome: "host-crashed", reason: "host threw: the plug-in gave up" },
    });
  });

  it("should print no ending line when the verdict is the ending", async () => {
    const result = await cli("run", scenario);
    expect(result.code).toBe(0);
    expect(result.out).toContain("outcome   completed");
    expect(result.out).not.toContain("ending ");
  });
});

describe("cocomem run --stall-after", () => {
  it("should end a run-away host's run as stalled after the given repeats, naming it", async () => {
    const result = await cli("run", scenario, "--host", RUN_AWAY, "--stall-after", "50", "--json");
    const report = JSON.parse(result.out);
    expect(report.result.underlying).toEqual({
      outcome: "stalled",
      reason:
        "host/kvm (under an adversarial host) re-entered guest/vcpu0 50 times on the same EPT_VIOLATION at 0x400000 with nothing changing in between: no progress",
    });
    expect(report.result.steps).toBeLessThan(500);
  });

  it("should print the stall beside the violation in text", async () => {
    const result = await cli("run", scenario, "--host", RUN_AWAY, "--stall-after", "50");
    expect(result.out).toContain(`outcome   violation: ${SANITISATION}\n`);
    expect(result.out).toMatch(
      /\nending {4}the run itself ended stalled: host\/kvm .* 50 times .*: no progress\n/,
    );
  });

  it.each(["0", "-1", "1.5", "many"])("should refuse --stall-after %s as a usage error", async (n) => {
    const message = expectUsageError(await cli("run", scenario, "--stall-after", n));
    expect(message).toMatch(/--stall-after/);
  });
});
