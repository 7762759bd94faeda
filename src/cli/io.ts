// Where CLI commands write, so tests can capture output without touching the process, and the
// parsing every subcommand shares: commander set up to report instead of exiting.
import { constants } from "node:os";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import type { Platform } from "../../protocol/index.ts";
import { PROFILES, ProfileName, profilesOf } from "../../protocol/profiles.ts";
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

export const processIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Exit codes: 0 as expected, 1 a violation or unmet expectation, 2 usage or input error. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** The signals that end a run with a verdict: Ctrl-C, `kill` (and service managers), a closed terminal. */
export const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/** The exit status of a run ended by `signal`, as a shell reports one: 128 + its number (SIGINT 130). */
export function interruptedExit(signal: StopSignal): number {
  return 128 + constants.signals[signal];
}

/** A second signal this soon after the first is the same Ctrl-C (relayed by npm or tsx). */
const SAME_CTRL_C_MS = 500;

/**
 * Run `body` with SIGINT, SIGTERM and SIGHUP wired to an abort signal: the first one ends the
 * current run with an `interrupted (SIGINT)` (or SIGTERM, SIGHUP) verdict, its log complete; a
 * second one exits at once. `interrupted` is the first signal, if one came.
 */
export async function interruptible<T>(
  body: (signal: AbortSignal) => Promise<T>,
): Promise<{ result: T; interrupted: StopSignal | undefined }> {
  const controller = new AbortController();
  let first: { signal: StopSignal; at: number } | undefined;
  const onSignal = (signal: StopSignal) => {
    if (!first) {
      first = { signal, at: performance.now() };
      controller.abort(signal);
    } else if (performance.now() - first.at > SAME_CTRL_C_MS) process.exit(interruptedExit(first.signal));
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  try {
    const result = await body(controller.signal);
    return { result, interrupted: first?.signal };
  } finally {
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  }
}

/** One line on stderr, no stack trace: the error a user sees for bad input. */
export function usageError(io: CliIo, message: string): number {
  io.err(`cocomem: ${message.split("\n")[0]}\n`);
  return EXIT.usage;
}

/** A subcommand whose help goes to `io` and whose errors come back as exceptions, not exits. */
export function subcommand(name: string, description: string, io: CliIo): Command {
  // Named as typed, so its help reads "Usage: cocomem run [options] ...".
  return new Command(`cocomem ${name}`)
    .description(description)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: () => {} });
}

/** Parse; undefined to go on, or the exit code (0 after --help, 2 on a usage error). */
export function parseArgs(command: Command, argv: string[], io: CliIo): number | undefined {
  try {
    command.parse(argv, { from: "user" });
    return undefined;
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    return error.exitCode === 0 ? EXIT.ok : usageError(io, error.message.replace(/^error: /, ""));
  }
}

/** A duration in milliseconds: a whole number from 1 to 600000 (ten minutes). */
export function parseMilliseconds(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 600_000) {
    throw new InvalidArgumentError("a duration is a whole number of milliseconds from 1 to 600000");
  }
  return Number(text);
}

/** A log line's seq (`--from`, `--to`, `--why`...): the first column `cocomem log` prints. */
export function parseSeq(text: string): number {
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value))
    throw new InvalidArgumentError("expected a sequence number: the first column cocomem log prints");
  return value;
}

/** A --seed value: an integer from 0 to 2^32 - 1. */
export function parseSeed(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) > 0xffffffff) {
    throw new InvalidArgumentError("a seed is an integer from 0 to 4294967295");
  }
  return Number(text);
}

/** Why `--profile` cannot apply to a scenario on `platform` (named `name`), if it cannot. */
export function profileProblem(
  profile: ProfileName | undefined,
  platform: Platform,
  name: string,
): string | undefined {
  if (!profile || PROFILES[profile].platform === platform) return undefined;
  const known = profilesOf(platform).map((p) => p.name);
  return `--profile ${profile} is for ${PROFILES[profile].platform}; ${name} runs on ${platform} (${known.join(", ")})`;
}

/** `--guest-policy`, as every command that runs a scenario takes it. */
export const guestPolicyOption = (): Option =>
  new Option("--guest-policy <policy>", "override the guest policy").choices(["linux", "naive"]);

/** `--profile`, as every command that runs a scenario takes it (checked against it by profileProblem). */
export const profileOption = (): Option =>
  new Option(
    "--profile <profile>",
    "the versions of the real systems to follow (see cocomem describe)",
  ).choices(ProfileName.options);
