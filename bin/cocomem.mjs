#!/usr/bin/env node
// Runs the TypeScript CLI under tsx's loader so the bin needs no build step. Ctrl-C reaches the CLI
// too (same process group) and it ends the run with a verdict: this wrapper only waits for it and
// passes its exit status on.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { constants } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// By absolute URL: a bare `--import tsx` would resolve from the user's directory.
const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
process.on("SIGINT", () => {});
const result = spawnSync(
  process.execPath,
  ["--import", tsx, join(root, "src/cli/main.ts"), ...process.argv.slice(2)],
  { stdio: "inherit" },
);
process.exit(result.status ?? (result.signal ? 128 + constants.signals[result.signal] : 1));
