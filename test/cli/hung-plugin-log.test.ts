// A host plug-in in the CLI's own process that never returns (a synchronous loop: no timer and no
// watchdog can run) still leaves a complete log up to the delivery it hangs on: the buffered file
// log is written out before every delivery to an in-process plug-in.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const dir = join(import.meta.dirname, ".tmp-hung-plugin");
mkdirSync(dir, { recursive: true });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("a plug-in that hangs the CLI's own process", () => {
  it("should leave every line logged before its hung delivery in the file", async () => {
    const plugin = join(dir, "spin.ts");
    const marker = join(dir, "spinning");
    writeFileSync(
      plugin,
      `import { writeFileSync } from "node:fs";
import { defineAdversary } from "cocomem/plugins";
export default defineAdversary({
  name: "spin",
  description: "loops forever at its 20th delivery",
  wrap: {
    onReceive(_env, ctx) {
      if (ctx.step === 20) {
        writeFileSync(${JSON.stringify(marker)}, "");
        for (;;) {}
      }
      return "keep";
    },
  },
});
`,
    );
    const log = join(dir, "run.jsonl");
    const cli = spawn(
      process.execPath,
      ["bin/cocomem.mjs", "run", "tdx/punch-hole", "--host", plugin, "--log", log],
      {
        cwd: ROOT,
        stdio: "ignore",
      },
    );
    try {
      for (let i = 0; i < 600; i++) {
        try {
          readFileSync(marker);
          break;
        } catch {
          await sleep(50);
        }
      }
      await sleep(300);
      const text = readFileSync(log, "utf8");
      expect(text.endsWith("\n")).toBe(true);
      const lines = text
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(lines[0].type).toBe("header");
      // The last line is the message the plug-in was handed when it hung: one to a host address.
      const last = lines.at(-1);
      expect(last.type).toBe("msg");
      expect(last.to).toMatch(/^host\//);
      expect(lines.length).toBeGreaterThan(20);
    } finally {
      cli.kill("SIGKILL");
    }
  }, 60_000);
});
