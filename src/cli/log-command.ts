// `cocomem log FILE`: filter a run log, trace one page through it, or draw it as a mermaid
// sequence diagram. Usage errors and unreadable logs exit 2 with one line on stderr.
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { PARTIES, type PartyName } from "../../protocol/index.ts";
import { DEFAULT_MERMAID_LIMIT, toMermaid } from "../log/mermaid.ts";
import { filterLog, formatLine, type LogFilter } from "../log/query.ts";
import { readLogFile } from "../log/read.ts";
import { formatTimeline, pageTimeline } from "../log/timeline.ts";

export interface LogCommandIo {
  out(text: string): void;
  err(text: string): void;
}

const processIo: LogCommandIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

interface LogOptions {
  party?: PartyName;
  type?: string;
  gpa?: number;
  hpa?: number;
  page?: number;
  format: "text" | "json" | "mermaid";
  limit?: number;
  effects?: boolean;
}

/** Run `cocomem log` on the arguments after `log`; resolves to the exit code. */
export async function logCommand(argv: string[], io: LogCommandIo = processIo): Promise<number> {
  const command = buildCommand(io);
  try {
    command.parse(argv, { from: "user" });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    if (error.exitCode === 0) return 0; // --help was printed
    return usageError(io, error.message.replace(/^error: /, ""));
  }
  const file = command.args[0]!;
  const options = command.opts<LogOptions>();
  if (options.page !== undefined && options.format === "mermaid") {
    return usageError(io, "--page prints a timeline; use --gpa to draw the messages naming a page");
  }
  if (options.effects && options.format !== "mermaid") {
    return usageError(
      io,
      "--effects only applies to --format mermaid (text and json always include effects)",
    );
  }
  const read = await readLogFile(file);
  if (!read.ok) return usageError(io, read.message);
  const filter: LogFilter = { party: options.party, type: options.type, gpa: options.gpa, hpa: options.hpa };

  if (options.format === "mermaid") {
    const limit = options.limit ?? DEFAULT_MERMAID_LIMIT;
    io.out(`${toMermaid(filterLog(read.lines, filter), { limit, effects: options.effects === true })}\n`);
    return 0;
  }
  if (options.page !== undefined) {
    const timeline = pageTimeline(read.lines, options.page, filter);
    const entries = capped(timeline.entries, options.limit, io);
    const shown = { ...timeline, entries };
    io.out(options.format === "json" ? `${JSON.stringify(shown)}\n` : lines(formatTimeline(shown)));
    return 0;
  }
  const matched = capped(filterLog(read.lines, filter), options.limit, io);
  io.out(lines(matched.map((a) => (options.format === "json" ? JSON.stringify(a.line) : formatLine(a)))));
  return 0;
}

function buildCommand(io: LogCommandIo): Command {
  return new Command("log")
    .description("Filter a run log, trace one page through it, or draw it as a mermaid sequence diagram")
    .argument("<file>", "JSONL run log")
    .addOption(new Option("--party <party>", "lines from, to, or by this party").choices(PARTIES))
    .option("--type <type>", 'message type, exact or prefix ("TDH.MEM"), or effect kind ("sept")')
    .option("--gpa <address>", "lines naming this guest page (either alias), hex or decimal", parseAddress)
    .option("--hpa <address>", "lines naming this host frame, hex or decimal", parseAddress)
    .option(
      "--page <gpa>",
      "per-page timeline of this GPA: S-EPT, EPT, attributes, frame, accesses",
      parseAddress,
    )
    .addOption(
      new Option("--format <format>", "output format").choices(["text", "json", "mermaid"]).default("text"),
    )
    .option(
      "--limit <n>",
      `at most n lines (mermaid: n messages, default ${DEFAULT_MERMAID_LIMIT})`,
      parseLimit,
    )
    .option("--effects", "mermaid: draw effects as notes")
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err, outputError: () => {} });
}

function usageError(io: LogCommandIo, message: string): number {
  io.err(`cocomem log: ${message.replace(/\s*\n\s*/g, " ")}\n`);
  return 2;
}

function parseAddress(text: string): number {
  const value = /^0x[0-9a-f]+$/i.test(text)
    ? Number.parseInt(text.slice(2), 16)
    : /^\d+$/.test(text)
      ? Number(text)
      : NaN;
  if (!Number.isSafeInteger(value))
    throw new InvalidArgumentError("expected an address: 0x... (hex) or decimal");
  return value;
}

function parseLimit(text: string): number {
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < 1)
    throw new InvalidArgumentError("expected a positive integer");
  return value;
}

/** The first `limit` items; says on stderr how many were left out, so stdout stays parseable. */
function capped<T>(items: T[], limit: number | undefined, io: LogCommandIo): T[] {
  if (limit === undefined || items.length <= limit) return items;
  io.err(`cocomem log: showing ${limit} of ${items.length} lines (--limit)\n`);
  return items.slice(0, limit);
}

const lines = (texts: readonly string[]): string => texts.map((t) => `${t}\n`).join("");
