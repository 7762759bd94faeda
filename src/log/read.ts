// Reading a JSONL run log back: each line must match the LogLine schema, and a delivered message's
// payload must match its own protocol schema too, so readers can trust the typed `msg`. Bad input is
// a result naming the line, never an exception: a log can be cut short or edited by hand. A file is
// streamed, so reading a log of any size takes the same memory.
import { createReadStream } from "node:fs";
import type { z } from "zod";
import { schemaFor } from "../../protocol/index.ts";
import { LOG_FORMAT_VERSION, LogLine } from "../../protocol/log.ts";

export type ReadResult =
  | { ok: true; lines: LogLine[] }
  /** `message` is one line naming the source and, when one is at fault, the line number. */
  | { ok: false; line?: number; message: string };

/** Parse log text (e.g. a file's contents); `source` names it in errors. Blank lines are skipped. */
export function parseLog(text: string, source = "log"): ReadResult {
  const collector = new Collector(source);
  const rows = text.split("\n");
  for (let i = 0; i < rows.length; i++) {
    const failure = collector.add(rows[i]!, i + 1);
    if (failure) return failure;
  }
  return collector.done();
}

/** Read a whole log file into memory (streamed in, so it is never one string). */
export async function readLogFile(path: string): Promise<ReadResult> {
  const lines: LogLine[] = [];
  const read = await streamLogFile(path, (line) => {
    lines.push(line);
  });
  return read.ok ? { ok: true, lines } : read;
}

export type StreamResult =
  /**
   * `lines`: how many log lines were read; `verdict`: whether one of them was the verdict;
   * `stopped`: the consumer ended the read before the end of the file.
   */
  | { ok: true; lines: number; verdict: boolean; stopped: boolean }
  | { ok: false; line?: number; message: string };

export interface StreamOptions {
  /** Called after each chunk of the file is handled: a consumer writing output can wait for it to drain. */
  afterChunk?: () => Promise<void> | void;
  /** Bytes read at a time (default 256 KiB). */
  chunk?: number;
}

/** Read a chunk at a time and split the lines out of it: memory does not grow with the file. */
const CHUNK = 256 * 1024;
/** Longer than any line a run writes by far: a file without line breaks is not read whole. */
const MAX_LINE = 64 * 1024 * 1024;

/**
 * Read a log file in chunks and hand each valid line to `onLine`, in order, holding no more than a
 * chunk: memory stays the same however large the file. `onLine` returning false ends the read
 * there (`stopped`: the lines after it do not matter, and are not read). The first malformed line
 * ends the read with a failure naming it (the lines before it were handed on already).
 */
export async function streamLogFile(
  path: string,
  /** Returning exactly `false` stops the read; anything else goes on. */
  onLine: (line: LogLine, lineNo: number) => unknown,
  options: StreamOptions = {},
): Promise<StreamResult> {
  let lineNo = 0;
  let count = 0;
  let verdict = false;
  let rest = "";
  /** One raw line: undefined to go on, or how the read ends (a failure, or the consumer stopped it). */
  const take = (raw: string): StreamResult | undefined => {
    lineNo++;
    const text = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (text.trim() === "") return undefined;
    const problem = checkLine(text);
    if (typeof problem === "string")
      return { ok: false, line: lineNo, message: `${path}:${lineNo}: ${problem}` };
    count++;
    if (problem.line.type === "verdict") verdict = true;
    let goOn: unknown;
    try {
      goOn = onLine(problem.line, lineNo);
    } catch (error) {
      throw new ConsumerError(error);
    }
    return goOn === false ? { ok: true, lines: count, verdict, stopped: true } : undefined;
  };
  const stream = createReadStream(path, { encoding: "utf8", highWaterMark: options.chunk ?? CHUNK });
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      let from = 0;
      for (let end = chunk.indexOf("\n"); end !== -1; end = chunk.indexOf("\n", from)) {
        const raw = from === 0 && rest !== "" ? rest + chunk.slice(0, end) : chunk.slice(from, end);
        if (from === 0) rest = "";
        from = end + 1;
        const over = take(raw);
        if (over) return over;
      }
      rest += chunk.slice(from);
      if (rest.length > MAX_LINE)
        return {
          ok: false,
          line: lineNo + 1,
          message: `${path}:${lineNo + 1}: a line of more than 64 MiB: not a run log`,
        };
      await options.afterChunk?.();
    }
    if (rest !== "") {
      const over = take(rest);
      if (over) return over;
    }
  } catch (error) {
    if (error instanceof ConsumerError) throw error.cause;
    return { ok: false, message: `${path}: cannot read: ${(error as Error).message}` };
  } finally {
    stream.destroy();
  }
  return { ok: true, lines: count, verdict, stopped: false };
}

/** An exception from the consumer of the lines, not from reading: it is rethrown as it was. */
class ConsumerError extends Error {
  constructor(override readonly cause: unknown) {
    super("consumer failed");
  }
}

class Collector {
  private readonly lines: LogLine[] = [];
  constructor(private readonly source: string) {}

  /** Add one raw line; returns the failure if it is malformed. */
  add(raw: string, lineNo: number): ReadResult | undefined {
    if (raw.trim() === "") return undefined;
    const problem = checkLine(raw);
    if (typeof problem === "string") {
      return { ok: false, line: lineNo, message: `${this.source}:${lineNo}: ${problem}` };
    }
    this.lines.push(problem.line);
    return undefined;
  }

  done(): ReadResult {
    return { ok: true, lines: this.lines };
  }
}

/** The parsed line, or why it is not a valid log line. */
function checkLine(raw: string): { line: LogLine } | string {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return "not JSON";
  }
  const header = json as { type?: unknown; format?: unknown; cocomem?: unknown };
  if (header?.type === "header" && header.format !== LOG_FORMAT_VERSION) {
    return `a log in format ${String(header.format)} (written by cocomem ${String(header.cocomem)}); this cocomem reads format ${LOG_FORMAT_VERSION}: run the scenario again to get a log it can read`;
  }
  const parsed = LogLine.safeParse(json);
  if (!parsed.success) return `invalid log line: ${firstIssue(parsed.error)}`;
  const line = parsed.data;
  if (line.type === "msg") {
    const schema = schemaFor(line.kind, line.msg.type);
    if (!schema) return `unknown ${line.kind} type "${line.msg.type}"`;
    const payload = schema.safeParse(line.msg);
    if (!payload.success) return `invalid ${line.msg.type} ${line.kind}: ${firstIssue(payload.error)}`;
  }
  // The envelope schema types `msg` loosely; it was just checked against its own schema above, so
  // the precise LogLine type (msg: Message) holds.
  return { line: line as LogLine };
}

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "does not match the schema";
  const where = issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
  return `${where}${issue.message}`;
}

/** A log line and its line number in the file. */
export interface NumberedLine {
  line: LogLine;
  lineNo: number;
}

/**
 * `streamLogFile` turned around: the caller pulls the lines, so two logs can be walked side by
 * side. The read waits after each chunk until the caller has taken that chunk's lines, so memory
 * stays at a chunk per file; the generator's return value is the read's result. Leaving it early
 * (break, return) ends the read and closes the file.
 */
export async function* pullLogFile(
  path: string,
  options: Pick<StreamOptions, "chunk"> = {},
): AsyncGenerator<NumberedLine, StreamResult, undefined> {
  let batch: NumberedLine[] = [];
  let ended = false;
  let stopped = false;
  let ready = signal();
  let taken = signal();
  const read = streamLogFile(path, (line, lineNo) => batch.push({ line, lineNo }), {
    chunk: options.chunk,
    afterChunk: async () => {
      ready.resolve();
      await taken.promise;
      if (stopped) throw new Error("the reader stopped");
    },
  }).finally(() => {
    ended = true;
    ready.resolve();
  });
  try {
    for (;;) {
      await ready.promise;
      ready = signal();
      const lines = batch;
      batch = [];
      yield* lines;
      if (ended) return await read;
      const next = taken;
      taken = signal();
      next.resolve();
    }
  } finally {
    if (!ended) {
      stopped = true;
      taken.resolve();
      await read;
    }
  }
}

/** A promise and its resolve (Promise.withResolvers, which Node 20 lacks). */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
