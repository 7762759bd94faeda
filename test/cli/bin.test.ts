import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

function cocomem(...args: string[]) {
  return spawnSync(process.execPath, ["bin/cocomem.mjs", ...args], { cwd: ROOT, encoding: "utf8" });
}

describe("bin/cocomem.mjs", () => {
  it("should run a built-in scenario end to end and exit 0", () => {
    const result = cocomem("run", "tdx/punch-hole");
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("outcome   vm-killed-by-host");
    expect(result.stdout).toContain("as expected");
  });

  it("should run each party in its own process from any directory, not only the package's", () => {
    const result = spawnSync(
      process.execPath,
      [join(ROOT, "bin/cocomem.mjs"), "run", "tdx/punch-hole", "--transport", "process"],
      { cwd: tmpdir(), encoding: "utf8" },
    );
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("outcome   vm-killed-by-host");
  }, 60_000);

  it("should exit 2 with one line on stderr for an unknown scenario", () => {
    const result = cocomem("run", "nope");
    expect(result.status).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe('cocomem: unknown scenario "nope" (see `cocomem list`)\n');
  });
});
