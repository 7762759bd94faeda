// Ctrl-C as a terminal sends it (SIGINT to the whole process group): `cocomem run` ends the run
// with an `interrupted` verdict, keeps the log complete, and exits 130.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { parseLog } from "../../src/log/read.ts";
import { longAcceptInput } from "../fixtures/scenarios.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const dir = join(import.meta.dirname, ".tmp-interrupt");
mkdirSync(dir, { recursive: true });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const scenario = join(dir, "long.json");
writeFileSync(scenario, JSON.stringify(longAcceptInput("256M")));

const lines = (file: string) => (existsSync(file) ? readFileSync(file, "utf8").split("\n").length : 0);

describe("Ctrl-C during `cocomem run`", () => {
  for (const transport of ["inproc", "process"]) {
    it(`should end the ${transport} run with an interrupted verdict, a complete log and exit 130`, async () => {
      const log = join(dir, `${transport}.jsonl`);
      // Its own process group, so the signal can go to the group as a terminal's Ctrl-C does.
      const cli = spawn(
        process.execPath,
        ["bin/cocomem.mjs", "run", scenario, "--log", log, "--transport", transport],
        { cwd: ROOT, detached: true, stdio: ["ignore", "pipe", "pipe"] },
      );
      let out = "";
      cli.stdout.on("data", (chunk) => {
        out += chunk;
      });
      const exited = new Promise<number | null>((resolve) => cli.on("exit", (code) => resolve(code)));
      while (lines(log) < 2000) await new Promise((resolve) => setTimeout(resolve, 20));
      process.kill(-cli.pid!, "SIGINT");
      expect(await exited).toBe(130);
      expect(out).toMatch(/outcome {3}error: interrupted \(SIGINT\) after \d+ deliveries/);
      const read = parseLog(readFileSync(log, "utf8"), log);
      expect(read.ok ? "ok" : read.message).toBe("ok");
      expect(read.ok && read.lines.at(-1)).toMatchObject({ type: "verdict", outcome: "error" });
    }, 60_000);
  }
});
