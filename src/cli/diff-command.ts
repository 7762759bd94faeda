// `cocomem diff A.jsonl B.jsonl`: where two run logs diverge, with context, and a summary. Exit
// codes as diff(1): 0 identical, 1 different, 2 usage or input error (one line on stderr).
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { DEFAULT_CONTEXT, diffLogFiles, formatDiff } from "../log/diff.ts";
import { type CliIo, EXIT, processIo } from "./io.ts";

export async function diffCommand(argv: string[], io: CliIo = processIo): Promise<number> {
  const command = new Command("cocomem diff")
    .description(
      "Compare two run logs: the first line where they diverge (ids and seqs aside), with context, and a summary: headers, outcomes, violations only in one, who zeroed what",
    )
    .argument("<a>", "JSONL run log A")
    .argument("<b>", "JSONL run log B")
    .option(
      "--context <n>",
      `lines of context each side of the divergence (default ${DEFAULT_CONTEXT})`,
      parseContext,
    )
    .option("--json", "print the comparison as JSON")
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: () => {}, outputError: () => {} });
  try {
    command.parse(argv, { from: "user" });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    if (error.exitCode === 0) return EXIT.ok; // --help was printed
    return usageError(io, error.message.replace(/^error: /, ""));
  }
  const [a, b] = command.args as [string, string];
  const { context, json } = command.opts<{ context?: number; json?: boolean }>();
  const result = await diffLogFiles(a, b, { context });
  if (!result.ok) return usageError(io, result.message);
  const { diff } = result;
  io.out(json ? `${JSON.stringify(diff)}\n` : `${formatDiff(diff).join("\n")}\n`);
  return diff.identical ? EXIT.ok : EXIT.failed;
}

function usageError(io: CliIo, message: string): number {
  io.err(`cocomem diff: ${message.replace(/\s*\n\s*/g, " ")}\n`);
  return EXIT.usage;
}

function parseContext(text: string): number {
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value)) throw new InvalidArgumentError("expected a whole number of lines");
  return value;
}
