// `cocomem list`: the built-in scenarios, what each shows and what it is expected to end in.
import { BUILT_IN } from "../scenarios/index.ts";
import { type CliIo, EXIT, parseArgs, processIo, subcommand } from "./io.ts";

export async function listCommand(argv: string[], io: CliIo = processIo): Promise<number> {
  const command = subcommand("list", "list the built-in scenarios", io).option("--json", "print as JSON");
  const stop = parseArgs(command, argv, io);
  if (stop !== undefined) return stop;
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
