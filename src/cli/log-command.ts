// `cocomem log FILE`: filter a run log, trace one page through it, or draw it as a mermaid
// sequence diagram. The file is streamed: memory does not grow with the log, only with what is
// printed (a timeline's entries, a diagram's messages up to --limit). Usage errors and unreadable
// logs exit 2 with one line on stderr.
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import type { Address, PartyName } from "../../protocol/index.ts";
import type { LogLine } from "../../protocol/log.ts";
import { Size } from "../../protocol/scenario.ts";
import { DEFAULT_MERMAID_LIMIT, MermaidBuilder } from "../log/mermaid.ts";
import {
  type Annotated,
  Annotator,
  EFFECT_KINDS,
  formatLine,
  isPartyOrAddress,
  knownType,
  type LogFilter,
  lineMatcher,
  MESSAGE_TYPES,
} from "../log/query.ts";
import { streamLogFile } from "../log/read.ts";
import { formatTimeline, TimelineBuilder } from "../log/timeline.ts";

export interface LogCommandIo {
  out(text: string): void;
  err(text: string): void;
  /** Resolves once what was written is taken; by default, once stdout has drained. */
  drained?(): Promise<void>;
}

/** Stdout drained: where it is a pipe that writes asynchronously (macOS), a slow reader holds the read back. */
const stdoutDrained = (): Promise<void> =>
  process.stdout.writableNeedDrain
    ? new Promise((resolve) => process.stdout.once("drain", () => resolve()))
    : Promise.resolve();

const processIo: LogCommandIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

interface LogOptions {
  party?: PartyName | Address;
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
  if (options.type !== undefined && !knownType(options.type)) {
    return usageError(
      io,
      `option '--type <type>' argument '${options.type}' is not a message type, a prefix of one ending at "." (TDH.MEM), or an effect kind. Effect kinds: ${EFFECT_KINDS.join(", ")}. Message types: ${MESSAGE_TYPES.join(", ")}`,
    );
  }
  const filter: LogFilter = { party: options.party, type: options.type, gpa: options.gpa, hpa: options.hpa };
  const out = new Output(io);
  const annotator = new Annotator();
  const view = viewFor(options, filter, () => annotator.sharedBit, out, io);
  const read = await streamLogFile(file, (line) => view.add(annotator.next(line), line), {
    afterChunk: () => out.drain(),
  });
  if (!read.ok) {
    out.flush();
    return usageError(io, read.message);
  }
  if (read.lines === 0)
    return usageError(io, `${file} is empty: a run log has a header line, then one line per message`);
  view.end();
  await out.drain();
  if (!read.verdict)
    io.err(`cocomem log: warning: ${file} has no verdict line: the run was killed, or is still running\n`);
  return 0;
}

/** What the command does with each line, by mode. */
interface View {
  add(a: Annotated, line: LogLine): void;
  end(): void;
}

/** `sharedBit`: the TD's, as the stream has told it so far. */
function viewFor(
  options: LogOptions,
  filter: LogFilter,
  sharedBit: () => number,
  out: Output,
  io: LogCommandIo,
): View {
  const { limit, page, format } = options;
  if (page !== undefined) {
    const timeline = new TimelineBuilder(page, filter, sharedBit, limit);
    return {
      add: (a) => timeline.add(a),
      end() {
        const shown = timeline.finish();
        if (limit !== undefined) cappedNote(io, limit, timeline.count);
        out.write(format === "json" ? `${JSON.stringify(shown)}\n` : lines(formatTimeline(shown)));
      },
    };
  }
  const keep = lineMatcher(filter, sharedBit);
  if (format === "mermaid") {
    const diagram = new MermaidBuilder({
      limit: limit ?? DEFAULT_MERMAID_LIMIT,
      effects: options.effects === true,
    });
    return {
      add(a) {
        if (keep(a)) diagram.add(a);
      },
      end: () => out.write(`${diagram.finish()}\n`),
    };
  }
  let matched = 0;
  return {
    add(a, line) {
      if (!keep(a) || ++matched > (limit ?? Number.POSITIVE_INFINITY)) return;
      out.write(`${format === "json" ? JSON.stringify(line) : formatLine(a)}\n`);
    },
    end() {
      if (limit !== undefined) cappedNote(io, limit, matched);
    },
  };
}

/** Output gathered into large writes, waiting for stdout to drain between chunks of the log. */
class Output {
  private buffer = "";
  constructor(private readonly io: LogCommandIo) {}
  write(text: string): void {
    this.buffer += text;
    if (this.buffer.length >= 64 * 1024) this.flush();
  }
  flush(): void {
    if (this.buffer !== "") this.io.out(this.buffer);
    this.buffer = "";
  }
  async drain(): Promise<void> {
    this.flush();
    await (this.io.drained ?? stdoutDrained)();
  }
}

function buildCommand(io: LogCommandIo): Command {
  return new Command("cocomem log")
    .description("Filter a run log, trace one page through it, or draw it as a mermaid sequence diagram")
    .argument("<file>", "JSONL run log")
    .option(
      "--party <party>",
      "lines from, to, or by this party (guest, host, trusted) or address (guest/vcpu0, guest/kernel, host/kvm, host/vmm, fw, hw)",
      parseParty,
    )
    .option("--type <type>", 'message type, exact or prefix ("TDH.MEM"), or effect kind ("sept")')
    .option(
      "--gpa <address>",
      "lines naming this guest page (either alias): 0x200000, 2097152 or 2M",
      parseAddress,
    )
    .option("--hpa <address>", "lines naming this host frame: hex, decimal or a size like 4G", parseAddress)
    .option(
      "--page <gpa>",
      "per-page timeline of this GPA (0x200000, 2097152 or 2M): S-EPT, EPT, attributes, frame, accesses",
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

/** An address as scenarios write GPAs: 0x... (hex), decimal, or a size such as 2M or 4G. */
function parseAddress(text: string): number {
  const parsed = Size.safeParse(text);
  if (!parsed.success || !Number.isSafeInteger(parsed.data))
    throw new InvalidArgumentError("expected an address: 0x... (hex), decimal, or a size such as 2M");
  return parsed.data;
}

function parseParty(text: string): PartyName | Address {
  if (!isPartyOrAddress(text))
    throw new InvalidArgumentError(
      "expected a party (guest, host, trusted) or an address (guest/vcpuN, guest/kernel, host/kvm, host/vmm, fw, hw)",
    );
  return text;
}

function parseLimit(text: string): number {
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < 1)
    throw new InvalidArgumentError("expected a positive integer");
  return value;
}

/** Says on stderr how many lines --limit left out, so stdout stays parseable. */
function cappedNote(io: LogCommandIo, limit: number, total: number): void {
  if (total > limit) io.err(`cocomem log: showing ${limit} of ${total} lines (--limit)\n`);
}

const lines = (texts: readonly string[]): string => texts.map((t) => `${t}\n`).join("");
