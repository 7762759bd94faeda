// `cocomem replay FILE`: run a counterexample the explorer wrote, with its choice tape in strict
// mode: it reproduces byte for byte (same log hash), or the first choice that no longer fits the
// run is named (the model or the scenario changed since).
import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { readReplay, replay } from "../explore/replay-file.ts";
import { type CliIo, EXIT, parseArgs, processIo, subcommand, usageError } from "./io.ts";

function buildCommand(io: CliIo): Command {
  return subcommand("replay", "run a replay file the explorer wrote and check it reproduces exactly", io)
    .argument("<file>", "a replay file (cocomem explore --out DIR)")
    .option("--log <file>", "write the replayed run's JSONL log to this file");
}

export async function replayCommand(argv: string[], io: CliIo = processIo): Promise<number> {
  const command = buildCommand(io);
  const stop = parseArgs(command, argv, io);
  if (stop !== undefined) return stop;
  const { log: logFile } = command.opts<{ log?: string }>();
  let verdict: Awaited<ReturnType<typeof replay>>;
  try {
    verdict = await replay(readReplay(command.args[0]!));
  } catch (error) {
    return usageError(io, (error as Error).message);
  }
  if (logFile) writeFileSync(logFile, verdict.log.map((line) => `${JSON.stringify(line)}\n`).join(""));
  switch (verdict.kind) {
    case "reproduced":
      io.out(
        `reproduced: ${verdict.finding.key} at log seq ${verdict.seq ?? "?"}; the log is identical (${verdict.log.length} lines)\n  ${verdict.finding.detail}\n`,
      );
      return EXIT.ok;
    case "diverged":
      io.out(`diverged: ${verdict.where.replace(/^the replay diverged /, "")}\n`);
      return EXIT.failed;
    case "different":
      io.out(`not reproduced: ${verdict.why}\n`);
      return EXIT.failed;
  }
}
