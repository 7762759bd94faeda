// `cocomem list`: the built-in scenarios, what each shows and what it is expected to end in.
import { Command, CommanderError } from "commander";
import { BUILT_IN } from "../scenarios/index.ts";
import { type CliIo, EXIT, processIo, usageError } from "./io.ts";

export async function listCommand(argv: string[], io: CliIo = processIo): Promise<number> {
  const command = new Command("list")
    .description("list the built-in scenarios")
    .option("--json", "print as JSON")
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: () => {} });
  try {
    command.parse(argv, { from: "user" });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    return error.exitCode === 0 ? EXIT.ok : usageError(io, error.message.replace(/^error: /, ""));
  }
  if (command.opts<{ json?: boolean }>().json) {
    io.out(
      `${JSON.stringify(
        BUILT_IN.map((s) => s.spec),
        null,
        2,
      )}\n`,
    );
    return EXIT.ok;
  }
  for (const { spec } of BUILT_IN) {
    io.out(
      `${spec.name}  [${spec.platform}, guest ${spec.guest.policy}, expect ${spec.expect.outcome}]\n  ${spec.description}\n`,
    );
  }
  return EXIT.ok;
}
