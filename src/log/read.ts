// Reading a JSONL run log back: each line must match the LogLine schema, and a delivered message's
// payload must match its own protocol schema too, so readers can trust the typed `msg`. Bad input is
// a result naming the line, never an exception: a log can be cut short or edited by hand.
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
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

/** Read a log file line by line (streamed, so a large log is never one string). */
export async function readLogFile(path: string): Promise<ReadResult> {
  const collector = new Collector(path);
  let lineNo = 0;
  try {
    const rows = createInterface({
      input: createReadStream(path, "utf8"),
      crlfDelay: Number.POSITIVE_INFINITY,
    });
    for await (const row of rows) {
      const failure = collector.add(row, ++lineNo);
      if (failure) {
        rows.close();
        return failure;
      }
    }
  } catch (error) {
    return { ok: false, message: `${path}: cannot read: ${(error as Error).message}` };
  }
  return collector.done();
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
