// `cocomem schema`: the JSON Schema of a scenario file, generated from the zod definitions the
// loader validates with (protocol/scenario.ts), for editors and other tools. The repository keeps
// a copy in schema/scenario.schema.json (a test checks it is current).
import { scenarioJsonSchema } from "../../protocol/scenario.ts";
import { type CliIo, EXIT, parseArgs, processIo, subcommand } from "./io.ts";

/** The schema as `cocomem schema` prints it (and schema/scenario.schema.json holds it). */
export const scenarioSchemaText = (): string => `${JSON.stringify(scenarioJsonSchema(), null, 2)}\n`;

export async function schemaCommand(argv: string[], io: CliIo = processIo): Promise<number> {
  const command = subcommand(
    "schema",
    'print the JSON Schema of a scenario file (draft 2020-12); a file may name it in "$schema"',
    io,
  );
  const stop = parseArgs(command, argv, io);
  if (stop !== undefined) return stop;
  io.out(scenarioSchemaText());
  return EXIT.ok;
}
