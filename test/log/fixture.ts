// One real run for the log tests: accept two 4K pages, write a secret, convert the first page to
// shared and back, read it. Its log has every kind of per-page event the tools deal with.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LogLine } from "../../protocol/log.ts";
import { logCommand } from "../../src/cli/log-command.ts";
import { readLogFile } from "../../src/log/read.ts";
import { runScenario } from "../../src/run/run.ts";
import { defineScenario } from "../../src/scenarios/define.ts";

export const PAGE = 0x200000;
export const OTHER_PAGE = 0x201000;
/** The shared alias of PAGE (GPAW 48: bit 47). */
export const SHARED_PAGE = 2 ** 47 + PAGE;

const scenario = defineScenario({
  name: "tdx/log-convert",
  description: "accept 8K, write a secret, convert the first page to shared and back, read it",
  platform: "tdx",
  guest: {
    memory: "4M",
    workload: [
      [
        { op: "accept", gpa: "2M", size: "8K", level: "4K" },
        { op: "write", gpa: "2M", tag: "s1", secret: true },
        { op: "convert", gpa: "2M", size: "4K", to: "shared" },
        { op: "write", gpa: "2M", tag: "pub" },
        { op: "convert", gpa: "2M", size: "4K", to: "private" },
        { op: "read", gpa: "2M" },
      ],
    ],
  },
  expect: { outcome: "completed" },
});

export interface ConvertLog {
  file: string;
  lines: LogLine[];
  /** The run's in-memory log, to compare with what was read back. */
  expected: LogLine[];
  /** Remove the temporary directory. */
  dispose(): Promise<void>;
}

export async function convertLog(): Promise<ConvertLog> {
  const dir = await mkdtemp(join(tmpdir(), "cocomem-log-"));
  const file = join(dir, "convert.jsonl");
  const run = await runScenario(scenario, { logFile: file });
  if (run.result.outcome !== "completed") throw new Error(`fixture run: ${run.result.reason}`);
  const read = await readLogFile(file);
  if (!read.ok) throw new Error(read.message);
  return { file, lines: read.lines, expected: run.log, dispose: () => rm(dir, { recursive: true }) };
}

/** `cocomem log` in-process on these arguments: its exit code and what it wrote. */
export async function runLog(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await logCommand(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}
