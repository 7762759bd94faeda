// The layer rule (.dependency-cruiser.cjs): every source file belongs to a layer, and the check
// `npm test` runs does fail on an upward import, a sideways one between parties, and a cycle.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");
const CONFIG = join(ROOT, ".dependency-cruiser.cjs");
const DEPCRUISE = join(ROOT, "node_modules/.bin/depcruise");
const config = createRequire(import.meta.url)(CONFIG) as {
  forbidden: { name: string; from: { path?: string }; to: { path?: string } }[];
};

/** Every layer group's path pattern, read from the rules themselves. */
const groups = [
  ...new Set(
    config.forbidden
      .filter((rule) => rule.name === "no-upward-import" || rule.name === "no-sideways-import")
      .flatMap((rule) => [rule.from.path ?? "", rule.to.path ?? ""])
      .flatMap((paths) => paths.split("|")),
  ),
].map((pattern) => new RegExp(pattern));

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)));
}

const scratch = mkdtempSync(join(tmpdir(), "cocomem-layers-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Run the real check over a small tree of files (path -> source). */
function cruise(name: string, files: Record<string, string>): { status: number | null; out: string } {
  const dir = join(scratch, name);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const tops = [...new Set(Object.keys(files).map((path) => path.split("/")[0]!))];
  const run = spawnSync(DEPCRUISE, ["--config", CONFIG, ...tops], {
    cwd: dir,
    encoding: "utf8",
  });
  return { status: run.status, out: run.stdout + run.stderr };
}

describe("the layer check", () => {
  it("should place every source file in exactly one layer group", () => {
    const files = [...sources("protocol"), ...sources("src"), ...sources("actors")];
    expect(files.length).toBeGreaterThan(80);
    for (const file of files) {
      const matches = groups.filter((group) => group.test(file));
      expect(matches.map(String), file).toHaveLength(1);
    }
  });

  it("should pass the real tree", () => {
    const run = spawnSync(DEPCRUISE, ["--config", CONFIG, "protocol", "src", "actors"], {
      cwd: ROOT,
      encoding: "utf8",
    });
    expect(run.stdout + run.stderr).toContain("no dependency violations found");
    expect(run.status).toBe(0);
  });

  it("should fail on an import upward (the protocol importing the CLI)", () => {
    const run = cruise("upward", {
      "protocol/common.ts": 'import { main } from "../src/cli/main.ts";\nexport const x = main;\n',
      "src/cli/main.ts": "export const main = 1;\n",
    });
    expect(run.status).not.toBe(0);
    expect(run.out).toMatch(/no-upward-import: protocol\/common\.ts → src\/cli\/main\.ts/);
  });

  it("should fail on the hardware model importing a party (the hypervisor)", () => {
    const run = cruise("hardware", {
      "src/hardware/arm64-pkvm.ts":
        'import { m } from "../../actors/trusted/pkvm/mem-protect.ts";\nexport const x = m;\n',
      "actors/trusted/pkvm/mem-protect.ts": "export const m = 1;\n",
    });
    expect(run.status).not.toBe(0);
    expect(run.out).toMatch(
      /no-upward-import: src\/hardware\/arm64-pkvm\.ts → actors\/trusted\/pkvm\/mem-protect\.ts/,
    );
  });

  it("should fail on one party importing another (the host reaching into the trusted side)", () => {
    const run = cruise("sideways", {
      "actors/host/tdx/kvm.ts": 'import { m } from "../../trusted/tdx/module.ts";\nexport const x = m;\n',
      "actors/trusted/tdx/module.ts": "export const m = 1;\n",
    });
    expect(run.status).not.toBe(0);
    expect(run.out).toMatch(
      /no-sideways-import: actors\/host\/tdx\/kvm\.ts → actors\/trusted\/tdx\/module\.ts/,
    );
  });

  it("should fail on a cycle within one layer", () => {
    const run = cruise("cycle", {
      "src/runtime/a.ts": 'import { b } from "./b.ts";\nexport const a = () => b;\n',
      "src/runtime/b.ts": 'import { a } from "./a.ts";\nexport const b = () => a;\n',
    });
    expect(run.status).not.toBe(0);
    expect(run.out).toContain("no-circular");
  });
});
