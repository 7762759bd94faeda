// `cocomem run`: run one scenario (built-in or from a file), or every built-in with --all.

import { accessSync, constants, existsSync, type Stats, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { type Command, InvalidArgumentError, Option } from "commander";
import { PROFILES, type ProfileName } from "../../protocol/profiles.ts";
import type { Adversary } from "../adversaries/api.ts";
import { loadAdversary } from "../adversaries/load.ts";
import { DEFAULT_SEED, type RunReport, runScenario } from "../run/run.ts";
import { expectationFor, type Scenario } from "../scenarios/define.ts";
import { BUILT_IN } from "../scenarios/index.ts";
import { loadScenario } from "../scenarios/load.ts";
import { checkPluginInChild } from "../transport/check-plugin.ts";
import {
  type CliIo,
  EXIT,
  guestPolicyOption,
  interruptedExit,
  interruptible,
  parseArgs,
  parseMilliseconds,
  parseSeed,
  processIo,
  profileOption,
  profileProblem,
  subcommand,
  usageError,
} from "./io.ts";
import { TRANSPORTS } from "./transports.ts";
import { tableHeader, tableRow, verdictBlock, WORK_LEGEND } from "./verdict.ts";

interface RunFlags {
  all?: boolean;
  seed: number;
  guestPolicy?: "linux" | "naive";
  profile?: ProfileName;
  log?: string;
  json?: boolean;
  host?: string;
  transport: "inproc" | "process";
  answerTimeout?: number;
  stallAfter?: number;
}

function buildCommand(io: CliIo): Command {
  return subcommand(
    "run",
    "run a scenario (a built-in name, or a .json/.ts scenario file) and print its verdict",
    io,
  )
    .argument("[scenario]", "built-in scenario name or path to a scenario file")
    .option("--all", "run every built-in scenario and print the verdict table")
    .option("--seed <n>", "scheduler seed: same scenario + seed = same log", parseSeed, DEFAULT_SEED)
    .addOption(guestPolicyOption())
    .addOption(profileOption())
    .option("--log <file>", "write the JSONL log to this file (line by line: a crash keeps what was written)")
    .option("--json", "print the report as JSON")
    .option(
      "--host <file>",
      "run with an adversarial host plug-in (a .ts/.js file exporting defineAdversary(...))",
    )
    .addOption(
      new Option("--transport <transport>", "inproc: one process; process: each party in its own OS process")
        .choices(["inproc", "process"])
        .default("inproc"),
    )
    .option(
      "--answer-timeout <ms>",
      "how long a party process or plug-in host may take over one delivery before the run ends as hung (default 5000)",
      parseMilliseconds,
    )
    .option(
      "--stall-after <n>",
      "end the run as stalled once one exchange repeats this many times with nothing changing (default 1000)",
      parseStallAfter,
    );
}

/** A --stall-after value: a whole number from 1 up. */
function parseStallAfter(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text)))
    throw new InvalidArgumentError("--stall-after takes a whole number of repeats from 1 up");
  return Number(text);
}

/** Run `cocomem run` on the arguments after `run`; resolves to the exit code. */
export async function runCommand(argv: string[], io: CliIo = processIo): Promise<number> {
  const command = buildCommand(io);
  const stop = parseArgs(command, argv, io);
  if (stop !== undefined) return stop;
  const flags = command.opts<RunFlags>();
  const name = command.args[0];
  if (flags.all) {
    if (name) return usageError(io, "give either a scenario or --all, not both");
    if (flags.log) return usageError(io, "--log takes one scenario, not --all");
    if (flags.host) return usageError(io, "--host takes one scenario, not --all");
    return runAll(flags, io);
  }
  if (!name) return usageError(io, "which scenario? give a name (see `cocomem list`), a file, or --all");
  // Before anything is loaded or run: a run whose log cannot be written is bad input, not a crash.
  const logProblem = flags.log && logPathProblem(flags.log, [name, flags.host]);
  if (logProblem) return usageError(io, `cannot write the log to ${flags.log}: ${logProblem}`);
  const loaded = await loadScenario(name);
  if (!loaded.ok) return usageError(io, loaded.error);
  const platform = loaded.scenario.spec.platform;
  const wrongProfile = profileProblem(flags.profile, platform, name);
  if (wrongProfile) return usageError(io, wrongProfile);
  // In-process the plug-in object is used directly; with processes, only the host's process (and
  // a throwaway one that checks it first) ever loads it.
  let plugin: { adversary: Adversary } | { hostPlugin: string } | Record<string, never> = {};
  if (flags.host && flags.transport === "process") {
    const checked = await checkPluginInChild(flags.host);
    if (!checked.ok) return usageError(io, checked.error);
    plugin = { hostPlugin: flags.host };
  } else if (flags.host) {
    const loaded = await loadAdversary(flags.host);
    if (!loaded.ok) return usageError(io, loaded.error);
    plugin = { adversary: loaded.adversary };
  }
  const { result: report, interrupted } = await interruptible((signal) =>
    runScenario(loaded.scenario, { ...options(flags), ...plugin, signal }),
  );
  if (flags.json) io.out(`${JSON.stringify(jsonReport(report), null, 2)}\n`);
  else io.out(verdictBlock(report, reproduce(name, flags)));
  if (interrupted) return interruptedExit(interrupted);
  return report.unmet.length === 0 ? EXIT.ok : EXIT.failed;
}

async function runAll(flags: RunFlags, io: CliIo): Promise<number> {
  const reports: RunReport[] = [];
  if (!flags.json)
    io.out(
      `SEED=${flags.seed}${flags.guestPolicy ? ` guest policy ${flags.guestPolicy}` : ""}${flags.transport === "process" ? " transport process" : ""}\n${tableHeader()}`,
    );
  const { interrupted } = await interruptible(async (signal) => {
    for (const scenario of BUILT_IN) {
      if (signal.aborted) break;
      // A profile applies to the scenarios of its platform; the others run with their own.
      const profile =
        flags.profile && PROFILES[flags.profile].platform === scenario.spec.platform
          ? { profile: flags.profile }
          : {};
      const report = await runScenario(scenario, {
        ...options({ ...flags, profile: undefined }),
        ...profile,
        signal,
      });
      reports.push(report);
      if (!flags.json) io.out(tableRow(report, expectedOutcome(scenario, report)));
    }
  });
  const failed = reports.filter((r) => r.unmet.length > 0);
  if (flags.json) io.out(`${JSON.stringify(reports.map(jsonReport), null, 2)}\n`);
  else
    io.out(
      `${WORK_LEGEND}\n${reports.length} scenarios: ${reports.length - failed.length} as expected, ${failed.length} not\n`,
    );
  if (interrupted) {
    io.err(`cocomem: interrupted after ${reports.length} of ${BUILT_IN.length} scenarios\n`);
    return interruptedExit(interrupted);
  }
  return failed.length === 0 ? EXIT.ok : EXIT.failed;
}

/**
 * Why a log cannot be written to `path`, or undefined if it can. Checked without touching the file;
 * `inputs` (the scenario file, the plug-in) are never overwritten, whatever path names them.
 */
function logPathProblem(path: string, inputs: (string | undefined)[]): string | undefined {
  const target = resolve(path);
  let stats: Stats | undefined;
  try {
    stats = statSync(target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOTDIR") return "a part of its path is not a directory";
    if (code === "EACCES") return "permission denied";
    if (code !== "ENOENT") return `cannot reach it (${code})`;
  }
  if (stats?.isDirectory()) return "it is a directory";
  if (stats) {
    for (const input of inputs) {
      if (input === undefined || !existsSync(input)) continue;
      const other = statSync(input);
      // Same device and inode: the same file, reached by the same path, a symlink or a hard link.
      if (other.dev === stats.dev && other.ino === stats.ino)
        return `it is ${input}, an input of this run: a log never overwrites one`;
    }
  }
  const where = stats ? target : dirname(target);
  if (!stats && !existsSync(where)) return `no such directory: ${dirname(path)}`;
  try {
    accessSync(where, stats ? constants.W_OK : constants.W_OK | constants.X_OK);
  } catch {
    return stats ? "permission denied" : `permission denied in ${dirname(path)}`;
  }
  return undefined;
}

function options(flags: RunFlags) {
  return {
    seed: flags.seed,
    // The log goes to --log and the monitors; a scenario's check gets it in memory anyway.
    keepLog: false,
    transport: TRANSPORTS[flags.transport],
    ...(flags.answerTimeout ? { answerTimeoutMs: flags.answerTimeout } : {}),
    ...(flags.stallAfter ? { stallAfter: flags.stallAfter } : {}),
    ...(flags.guestPolicy ? { guestPolicy: flags.guestPolicy } : {}),
    ...(flags.profile ? { profile: flags.profile } : {}),
    ...(flags.log ? { logFile: flags.log } : {}),
  };
}

function expectedOutcome(scenario: Scenario, report: RunReport): string {
  const found = expectationFor(scenario.spec, report.policy, report.profile);
  return "expectation" in found ? found.expectation.outcome : "(none)";
}

function jsonReport(report: RunReport) {
  const { log: _log, ...rest } = report;
  return rest;
}

function reproduce(name: string, flags: RunFlags): string {
  const policy = `${flags.guestPolicy ? ` --guest-policy ${flags.guestPolicy}` : ""}${flags.profile ? ` --profile ${flags.profile}` : ""}`;
  const transport = flags.transport === "process" ? " --transport process" : "";
  const stall = flags.stallAfter ? ` --stall-after ${flags.stallAfter}` : "";
  return `cocomem run ${name} --seed ${flags.seed}${policy}${transport}${stall} --log run.jsonl`;
}
