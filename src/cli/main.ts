// The `cocomem` command: dispatches to one module per subcommand. Each subcommand returns its exit
// code (0 as expected, 1 violation or unmet expectation, 2 usage or input error).

import { COCOMEM_VERSION } from "../run/version.ts";
import { compareCommand } from "./compare-command.ts";
import { describeCommand } from "./describe-command.ts";
import { diffCommand } from "./diff-command.ts";
import { exploreCommand } from "./explore-command.ts";
import { type CliIo, EXIT, processIo, usageError } from "./io.ts";
import { listCommand } from "./list-command.ts";
import { logCommand } from "./log-command.ts";
import { matrixCommand } from "./matrix-command.ts";
import { replayCommand } from "./replay-command.ts";
import { runCommand } from "./run-command.ts";
import { schemaCommand } from "./schema-command.ts";
import { viewCommand } from "./view-command.ts";

const COMMANDS: Record<string, (argv: string[], io: CliIo) => Promise<number>> = {
  run: runCommand,
  list: listCommand,
  log: logCommand,
  diff: diffCommand,
  describe: describeCommand,
  compare: compareCommand,
  matrix: matrixCommand,
  explore: exploreCommand,
  replay: replayCommand,
  schema: schemaCommand,
  view: viewCommand,
};

const HELP = `cocomem: confidential-VM memory protocols as guest, host and trusted-entity actors

usage: cocomem <command> [options]

commands:
  run [SCENARIO|FILE] [--all] [--seed N] [--guest-policy linux|naive] [--log FILE] [--json] [--host FILE]
                      run a scenario and print its verdict (--all: every built-in, as a table)
  list                list the built-in scenarios
  log FILE [filters]  filter a run log, trace a page (--page GPA), or draw it (--format mermaid)
  diff A B [--context K] [--json]
                      where two run logs diverge (ids aside), with context, and a summary
  describe tdx|pkvm   print a platform's state tables and message catalogue, from the model's own data
  compare             the same workload on TDX and pKVM: who zeroed what on each
  matrix              every attack x platform x guest policy: blocked / detected / DoS / violation
  explore SCENARIO [--adversary any|A1..A13|FILE] [--strategy portfolio|random|pct|swarm|dfs] [--runs N|--time S]
                      search host behaviours and orders for runs where a monitor fires; shrink and save each
  replay FILE [--log FILE]
                      run a replay file explore wrote: reproduced exactly, or where it diverged
  view FILE [--out FILE.html]
                      one HTML page of a run log or replay file: party columns, arrows, violations, page timelines
  schema              print the JSON Schema of a scenario file (fields, types, defaults)

Run \`cocomem help <command>\` (or \`cocomem <command> --help\`) for a command's options,
\`cocomem --version\` for the version.
`;

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    if (name === "help" && rest.length > 0) return commandHelp(rest, io);
    io.out(HELP);
    return EXIT.ok;
  }
  if (name === "--version" || name === "-V" || name === "version") {
    io.out(`cocomem ${COCOMEM_VERSION}\n`);
    return EXIT.ok;
  }
  const command = COMMANDS[name];
  if (!command)
    return usageError(io, `unknown command "${name}" (commands: ${Object.keys(COMMANDS).join(", ")})`);
  try {
    return await command(rest, io);
  } catch (error) {
    // A bug, not bad input: say so in one line and point at a report.
    io.err(`cocomem: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT.failed;
  }
}

/** `cocomem help run`: the command's own help, as `cocomem run --help` prints it. */
function commandHelp([name, ...extra]: string[], io: CliIo): Promise<number> | number {
  const command = COMMANDS[name!];
  if (!command)
    return usageError(io, `no help for "${name}" (commands: ${Object.keys(COMMANDS).join(", ")})`);
  if (extra.length > 0) return usageError(io, "help takes one command");
  return command(["--help"], io);
}

/** `main` as a program: its exit code, a closed stdout pipe treated as the reader's choice. */
export function program(argv: string[]): void {
  // `cocomem log run.jsonl | head` closes the pipe early: that is the reader's choice, not an error.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0);
    throw error;
  });
  main(argv).then((code) => {
    process.exitCode = code;
  });
}

// Run directly (`node --import tsx src/cli/main.ts`); bin/cocomem.mjs calls `program` itself.
if (import.meta.url === `file://${process.argv[1]}`) program(process.argv.slice(2));
