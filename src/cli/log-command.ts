// `cocomem log FILE`: filter a run log, trace one page through it, draw it as a mermaid sequence
// diagram, or follow one line's causes back. The file is streamed: memory does not grow with the
// log, only with what is printed (a timeline's entries, a diagram's messages up to --limit), except
// for --why's index of causes (src/log/causal.ts). Usage errors and unreadable logs exit 2 with one
// line on stderr.
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import type { Address, PartyName } from "../../protocol/index.ts";
import { Size } from "../../protocol/scenario.ts";
import { CauseIndex, formatChain } from "../log/causal.ts";
import { DEFAULT_MERMAID_LIMIT, MermaidBuilder } from "../log/mermaid.ts";
import {
  type Annotated,
  Annotator,
  EFFECT_KINDS,
  formatLine,
  isPartyOrAddress,
  knownType,
  LINE_TYPES,
  type LogFilter,
  lineMatcher,
  MESSAGE_TYPES,
} from "../log/query.ts";
import { streamLogFile } from "../log/read.ts";
import { formatTimeline, TimelineBuilder } from "../log/timeline.ts";
import { AroundWindow } from "../log/window.ts";
import { parseSeq } from "./io.ts";

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
  why?: number;
  around?: Around;
  from?: number;
  to?: number;
}

/** `--around SEQ,N`. */
interface Around {
  seq: number;
  context: number;
}

const DEFAULT_CONTEXT = 10;

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
  const misuse = misuseOf(options);
  if (misuse !== undefined) return usageError(io, misuse);
  if (options.why !== undefined) return why(file, options.why, options, io);
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
      `option '--type <type>' argument '${options.type}' is not a message type, a prefix of one ending at ".", "<" or "_" (TDH.MEM, __pkvm_host), an effect kind or a line type. Line types: ${LINE_TYPES.join(", ")}. Effect kinds: ${EFFECT_KINDS.join(", ")}. Message types: ${MESSAGE_TYPES.join(", ")}`,
    );
  }
  const { party, type, gpa, hpa, from, to } = options;
  const filter: LogFilter = { party, type, gpa, hpa, from, to };
  const out = new Output(io);
  const annotator = new Annotator();
  const view = viewFor(file, options, filter, () => annotator.sharedBit, out, io);
  /** The last seq read: `--from` past it names no line at all. */
  let last = -1;
  const read = await streamLogFile(
    file,
    (line) => {
      if (line.type !== "header") last = line.seq;
      return view.add(annotator.next(line));
    },
    { afterChunk: () => out.drain() },
  );
  if (!read.ok) {
    out.flush();
    return usageError(io, read.message);
  }
  if (!read.stopped && read.lines === 0) return emptyLog(io, file);
  if (!read.stopped && from !== undefined && from > last)
    return usageError(io, `no line from #${from} in ${file}: its lines run from #0 to #${last}`);
  const missing = view.end();
  if (missing !== undefined) return usageError(io, missing);
  await out.drain();
  if (!read.stopped && !read.verdict)
    io.err(`cocomem log: warning: ${file} has no verdict line: the run was killed, or is still running\n`);
  return 0;
}

/** Options that do not go together, or undefined. */
function misuseOf(options: LogOptions): string | undefined {
  const { why, around, from, to, page } = options;
  if (why !== undefined) {
    const others = (
      ["party", "type", "gpa", "hpa", "page", "around", "from", "to", "effects"] as const
    ).filter((name) => options[name] !== undefined);
    if (others.length > 0 || options.format === "mermaid")
      return `--why follows one line's causes back: it takes --format text or json and --limit, not ${others.length > 0 ? `--${others[0]}` : "--format mermaid"}`;
  }
  if (around !== undefined && (from !== undefined || to !== undefined))
    return "--around makes a window of its own: give either --around or --from/--to";
  if (around !== undefined && options.limit !== undefined)
    return "--around sizes its window itself (--around SEQ,N): leave out --limit";
  if (around !== undefined && page !== undefined)
    return "--around windows the log's lines; give a page timeline a range with --from/--to";
  if (from !== undefined && to !== undefined && from > to) return `--from ${from} comes after --to ${to}`;
  return undefined;
}

/**
 * Steps back `--why` shows unless `--limit` says otherwise: every message has a cause, so a chain
 * runs back to the start of the run (thousands of steps), and what explains a line is near it.
 */
const DEFAULT_WHY_STEPS = 40;

/** `--why SEQ`: a first pass indexes the causes up to SEQ, a second prints the lines of its chain. */
async function why(file: string, seq: number, options: LogOptions, io: LogCommandIo): Promise<number> {
  const index = new CauseIndex(seq);
  const indexed = await streamLogFile(file, (line) => index.add(line));
  if (!indexed.ok) return usageError(io, indexed.message);
  if (!indexed.stopped) {
    if (indexed.lines === 0) return emptyLog(io, file);
    const range = index.last < 0 ? "it has no numbered lines" : `its lines run from #0 to #${index.last}`;
    return usageError(io, `no line #${seq} in ${file}: ${range}`);
  }
  const chain = index.chain();
  const limit = options.limit ?? DEFAULT_WHY_STEPS;
  const shown = chain.seqs.slice(0, limit + 1);
  const position = new Map(shown.map((s, i) => [s, i]));
  const steps: Annotated[] = [];
  let found = 0;
  const annotator = new Annotator();
  await streamLogFile(file, (line) => {
    const a = annotator.next(line);
    const at = line.type === "header" ? undefined : position.get(line.seq);
    if (at !== undefined && steps[at] === undefined) {
      steps[at] = a;
      found++;
    }
    return line.type === "header" || line.seq !== seq;
  });
  if (found !== shown.length) return usageError(io, `${file} changed while it was read`);
  const out = new Output(io);
  out.write(lines(options.format === "json" ? steps.map((a) => JSON.stringify(a.line)) : formatChain(steps)));
  await out.drain();
  if (chain.seqs.length - 1 > limit)
    io.err(`cocomem log: showing ${limit} of ${chain.seqs.length - 1} steps back (--limit)\n`);
  if (chain.broken !== undefined)
    io.err(`cocomem log: #${chain.broken} names a cause that is not in ${file}: the chain stops there\n`);
  return 0;
}

/** What the command does with each line, by mode. */
interface View {
  /** False once the lines after this one do not matter. */
  add(a: Annotated): boolean;
  /** Finish the output; or the usage error, if the line --around names was not in the log. */
  end(): string | undefined;
}

/** `sharedBit`: the TD's, as the stream has told it so far. */
function viewFor(
  file: string,
  options: LogOptions,
  filter: LogFilter,
  sharedBit: () => number,
  out: Output,
  io: LogCommandIo,
): View {
  const { limit, page, format, around } = options;
  if (page !== undefined) {
    const timeline = new TimelineBuilder(page, filter, sharedBit, limit);
    return {
      add: (a) => {
        timeline.add(a);
        return true;
      },
      end() {
        const shown = timeline.finish();
        if (limit !== undefined) cappedNote(io, limit, timeline.count);
        out.write(format === "json" ? `${JSON.stringify(shown)}\n` : lines(formatTimeline(shown)));
        return undefined;
      },
    };
  }
  const effects = options.effects === true;
  const matcher = lineMatcher(filter, sharedBit);
  const isAnchor = (a: Annotated) =>
    around !== undefined && a.line.type !== "header" && a.line.seq === around.seq;
  // A diagram's window counts what it draws: effects only with --effects, or the line it is around.
  const keep =
    format === "mermaid"
      ? (a: Annotated) => matcher(a) && (a.line.type !== "effect" || effects || isAnchor(a))
      : matcher;
  const window = around && new AroundWindow<Annotated>(around.seq, around.context);
  /** The lines to show for the next line of the log. */
  const select = (a: Annotated): Annotated[] =>
    window ? window.add(a.line.type === "header" ? undefined : a.line.seq, a, keep(a)) : keep(a) ? [a] : [];
  const missing = (): string | undefined =>
    window && !window.found ? `no line #${window.anchor} in ${file} (--around)` : undefined;
  if (format === "mermaid") {
    const diagram = new MermaidBuilder({ limit: limit ?? DEFAULT_MERMAID_LIMIT, effects });
    return {
      add(a) {
        for (const shown of select(a)) diagram.add(shown, isAnchor(shown));
        // The verdict is drawn whatever the filters and the window: how the run ended.
        if (a.line.type === "verdict") diagram.add(a);
        return true;
      },
      end() {
        const error = missing();
        if (error === undefined) out.write(`${diagram.finish()}\n`);
        return error;
      },
    };
  }
  let matched = 0;
  return {
    add(a) {
      for (const shown of select(a)) {
        if (++matched > (limit ?? Number.POSITIVE_INFINITY)) continue;
        out.write(`${format === "json" ? JSON.stringify(shown.line) : formatLine(shown)}\n`);
      }
      // Past --to, or the window full, no later line is shown.
      const past = filter.to !== undefined && a.line.type !== "header" && a.line.seq >= filter.to;
      return !past && !window?.done;
    },
    end() {
      if (limit !== undefined) cappedNote(io, limit, matched);
      return missing();
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
    .description(
      "Filter a run log, trace one page through it, draw it as a mermaid sequence diagram, or follow a line's causes back",
    )
    .argument("<file>", "JSONL run log")
    .option(
      "--party <party>",
      "lines from, to, or by this party (guest, host, trusted) or address (guest/vcpu0, guest/kernel, host/kvm, host/vmm, fw, hw)",
      parseParty,
    )
    .option(
      "--type <type>",
      'message type, exact or prefix ("TDH.MEM"), effect kind ("sept"), or verdict, violation, rejected, header',
    )
    .option(
      "--gpa <address>",
      "lines naming this guest page (either alias): 0x200000, 2097152 or 2M",
      parseAddress,
    )
    .option("--hpa <address>", "lines naming this host frame: hex, decimal or a size like 4G", parseAddress)
    .option(
      "--page <gpa>",
      "per-page timeline of this GPA (0x200000, 2097152 or 2M): S-EPT, EPT, attributes, frame, accesses, the calls that started them, the VM's lifecycle, the verdict",
      parseAddress,
    )
    .addOption(
      new Option("--format <format>", "output format").choices(["text", "json", "mermaid"]).default("text"),
    )
    .option(
      "--limit <n>",
      `at most n lines (mermaid: n messages, default ${DEFAULT_MERMAID_LIMIT}; --why: n steps back, default ${DEFAULT_WHY_STEPS})`,
      parseLimit,
    )
    .option("--effects", "mermaid: draw effects as notes")
    .option(
      "--why <seq>",
      "the chain of causes of line <seq> (its first column), back to a line with none; a violation steps back to its latest evidence",
      parseSeq,
    )
    .option(
      "--around <seq[,n]>",
      `line <seq> and the n lines each side that pass the filters (default ${DEFAULT_CONTEXT}): --around 7767 or --around 7767,5`,
      parseAround,
    )
    .option("--from <seq>", "lines from this seq on", parseSeq)
    .option("--to <seq>", "lines up to this seq", parseSeq)
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

function parseAround(text: string): Around {
  const [seq, context, ...rest] = text.split(",");
  if (rest.length > 0 || context === "")
    throw new InvalidArgumentError("expected <seq> or <seq>,<n>: --around 7767 or --around 7767,5");
  return { seq: parseSeq(seq!), context: context === undefined ? DEFAULT_CONTEXT : parseSeq(context) };
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

const emptyLog = (io: LogCommandIo, file: string): number =>
  usageError(io, `${file} is empty: a run log has a header line, then one line per message`);
