// Comparing two run logs (`cocomem diff`): the first line where they diverge, with context on both
// sides, and a summary (headers, outcomes, violations only in one, who zeroed what).
//
// What is compared is what happened, not how it was named: message ids change with the seed, so
// ids, seqs and a violation's evidence seqs are left out. A reference (a response's `re`, the
// `causedBy` of a message or an effect) is compared by how many lines back it points: every line
// before the first divergence matched, so the same distance means the same earlier line. Headers
// (scenario, seed, profile, options) are told in the summary and never make the divergence:
// comparing two seeds or two profiles of one scenario is the point.
//
// Both files are read together, a chunk at a time: memory holds the context lines and the
// summary's counts, never the logs.
import type { HeaderLine, LogLine, VerdictLine, ViolationLine } from "../../protocol/log.ts";
import { type Annotated, Annotator, formatFields, formatLine, hex, Recent } from "./query.ts";
import { type NumberedLine, pullLogFile, type StreamResult } from "./read.ts";
import { countZeroing, zeroingTable } from "./zeroings.ts";

/** Context lines each side of the divergence, unless told. */
export const DEFAULT_CONTEXT = 5;

/**
 * How far back a reference is followed. A reference beyond it compares equal to any other beyond
 * it: memory stays bounded, and a response to a request this old is rare (a guest call left open
 * across a long host loop).
 */
const REFERENCE_WINDOW = 1 << 16;

/** A log line as shown: its line number in its file, its formatLine text, and the line itself. */
export interface ShownLine {
  lineNo: number;
  text: string;
  line: LogLine;
}

export interface Divergence {
  /** Line numbers of the first lines that differ; for a log that ended, one past its last line. */
  lineA: number;
  lineB: number;
  /** The first field that differs ("msg.status", "re"), with each side's value (absent: undefined)... */
  field?: string;
  a?: unknown;
  b?: unknown;
  /** ...or the log that ends where the other goes on. */
  ended?: "A" | "B";
  /** Up to the context's count of lines before the divergence: they match (ids aside). */
  before: { a: ShownLine; b: ShownLine }[];
  /** Each log's diverging line and up to the context's count after it (none for a log that ended). */
  linesA: ShownLine[];
  linesB: ShownLine[];
}

export interface LogSummary {
  path: string;
  /** Log lines read (blank lines aside). */
  lines: number;
  header?: HeaderLine;
  /** How the run ended; absent when the log was cut short (killed, or still running). */
  verdict?: Pick<VerdictLine, "outcome" | "reason">;
  violations: number;
}

export interface LogDiff {
  /** Every line matched (headers aside). */
  identical: boolean;
  divergence?: Divergence;
  a: LogSummary;
  b: LogSummary;
  /** Header fields that differ (options as "options.<name>"). */
  header: { field: string; a: unknown; b: unknown }[];
  /** Violations (monitor/invariant (responsible) where: detail) found in one log and not the other. */
  violations: { onlyA: string[]; onlyB: string[]; both: number };
  /** Pages zeroed, by "who: why", in each log. */
  zeroings: { a: Record<string, number>; b: Record<string, number> };
}

/** One log's side of the comparison: the summary's counts, and what comparing and showing a line need. */
class Side {
  lines = 0;
  lastLineNo = 0;
  header?: HeaderLine;
  verdict?: VerdictLine;
  violations = new Map<string, number>();
  zeroings = new Map<string, number>();
  private readonly annotator = new Annotator();
  /** Where each recent message is: its index among the lines taken (not its seq, which is not compared). */
  private readonly indexOf = new Recent<number>(REFERENCE_WINDOW);

  constructor(readonly path: string) {}

  /** Count a line in; returns it, annotated for formatLine when it is shown. */
  take(numbered: NumberedLine): Taken {
    const { line } = numbered;
    this.lines++;
    this.lastLineNo = numbered.lineNo;
    if (line.type === "header") this.header ??= line;
    if (line.type === "verdict") this.verdict = line;
    if (line.type === "violation") {
      const key = describeViolation(line);
      this.violations.set(key, (this.violations.get(key) ?? 0) + 1);
    }
    countZeroing(this.zeroings, line);
    const taken = { ...numbered, annotated: this.annotator.next(line) };
    if (line.type === "msg") this.indexOf.set(line.id, this.lines);
    return taken;
  }

  /** What happened on a line, in the order its fields are best compared: ids and seqs left out. */
  whatHappened(line: LogLine): object {
    switch (line.type) {
      case "header":
        return { type: line.type };
      case "msg":
        return {
          type: line.type,
          from: line.from,
          to: line.to,
          kind: line.kind,
          msg: line.msg,
          re: this.back(line.re),
          causedBy: this.back(line.causedBy),
        };
      case "effect":
        return { type: line.type, effect: line.effect, causedBy: this.back(line.causedBy) };
      case "violation": {
        const { monitor, invariant, responsible, gpa, hpa, detail } = line;
        return { type: line.type, monitor, invariant, responsible, gpa, hpa, detail };
      }
      case "rejected":
        // The raw message's `re` names a request by id.
        return { type: line.type, from: line.from, reason: line.reason, raw: withoutRe(line.raw) };
      case "verdict":
        return { type: line.type, outcome: line.outcome, reason: line.reason, ending: line.ending };
    }
  }

  /**
   * How many lines back from the line just taken a reference points ("far" past the window);
   * undefined for none.
   */
  private back(id: string | undefined): number | "far" | undefined {
    if (id === undefined) return undefined;
    const target = this.indexOf.get(id);
    return target === undefined ? "far" : this.lines - target;
  }
}

const withoutRe = (raw: unknown): unknown => {
  if (typeof raw !== "object" || raw === null || !("re" in raw)) return raw;
  const { re: _, ...rest } = raw as Record<string, unknown>;
  return rest;
};

const describeViolation = (v: ViolationLine): string =>
  `${v.monitor}/${v.invariant} (${v.responsible})${v.gpa === undefined ? "" : ` gpa=${hex(v.gpa)}`}${v.hpa === undefined ? "" : ` hpa=${hex(v.hpa)}`}: ${v.detail}`;

/** A line read, annotated; formatted only if it is shown (most never are). */
interface Taken extends NumberedLine {
  annotated: Annotated;
}

const shown = ({ lineNo, line, annotated }: Taken): ShownLine => ({
  lineNo,
  line,
  text: formatLine(annotated),
});

/**
 * The comparison, fed one line of each log at a time. While the logs match they move in step;
 * once they diverge, each side only collects its context and its counts.
 */
export class LogDiffer {
  private readonly a: Side;
  private readonly b: Side;
  /** The last matching pairs, for the context before the divergence. */
  private readonly recent: { a: Taken; b: Taken }[] = [];
  private divergence?: Divergence;

  constructor(
    paths: { a: string; b: string },
    private readonly context = DEFAULT_CONTEXT,
  ) {
    this.a = new Side(paths.a);
    this.b = new Side(paths.b);
  }

  /** The next line of each log, at least one of them; undefined for a log that has ended. */
  add(a: NumberedLine | undefined, b: NumberedLine | undefined): void {
    const takenA = a && this.a.take(a);
    const takenB = b && this.b.take(b);
    if (this.divergence) {
      this.keepAfter(this.divergence.linesA, takenA);
      this.keepAfter(this.divergence.linesB, takenB);
    } else if (!takenA || !takenB) this.diverge(takenA, takenB, { ended: takenA ? "B" : "A" });
    else {
      const difference = firstDifference(
        this.a.whatHappened(takenA.line),
        this.b.whatHappened(takenB.line),
        "",
      );
      if (difference) this.diverge(takenA, takenB, difference);
      else {
        this.recent.push({ a: takenA, b: takenB });
        if (this.recent.length > this.context) this.recent.shift();
      }
    }
  }

  private diverge(
    a: Taken | undefined,
    b: Taken | undefined,
    difference: Difference | { ended: "A" | "B" },
  ): void {
    // A log that ended diverges one past its last line.
    this.divergence = {
      lineA: a?.lineNo ?? this.a.lastLineNo + 1,
      lineB: b?.lineNo ?? this.b.lastLineNo + 1,
      ...difference,
      before: this.recent.map((pair) => ({ a: shown(pair.a), b: shown(pair.b) })),
      linesA: a ? [shown(a)] : [],
      linesB: b ? [shown(b)] : [],
    };
  }

  private keepAfter(lines: ShownLine[], taken: Taken | undefined): void {
    if (taken && lines.length <= this.context) lines.push(shown(taken));
  }

  finish(): LogDiff {
    const { a, b } = this;
    const onlyA = multisetMinus(a.violations, b.violations);
    const onlyB = multisetMinus(b.violations, a.violations);
    const summaryA = summary(a);
    return {
      identical: this.divergence === undefined,
      divergence: this.divergence,
      a: summaryA,
      b: summary(b),
      header: headerDifferences(a.header, b.header),
      violations: { onlyA, onlyB, both: summaryA.violations - onlyA.length },
      zeroings: { a: Object.fromEntries(a.zeroings), b: Object.fromEntries(b.zeroings) },
    };
  }
}

const summary = (side: Side): LogSummary => ({
  path: side.path,
  lines: side.lines,
  header: side.header,
  verdict: side.verdict && { outcome: side.verdict.outcome, reason: side.verdict.reason },
  violations: [...side.violations.values()].reduce((sum, n) => sum + n, 0),
});

/** The keys of `a` as many times as they are in `a` beyond their count in `b`. */
function multisetMinus(a: Map<string, number>, b: Map<string, number>): string[] {
  return [...a].flatMap(([key, n]) => Array<string>(Math.max(0, n - (b.get(key) ?? 0))).fill(key));
}

function headerDifferences(a: HeaderLine | undefined, b: HeaderLine | undefined): LogDiff["header"] {
  // Options one level down, so a difference names the option.
  const flat = (header: HeaderLine | undefined): Map<string, unknown> => {
    const fields = new Map<string, unknown>();
    for (const [key, value] of Object.entries(header ?? {})) {
      if (key === "options")
        for (const [option, v] of Object.entries(value as object)) fields.set(`options.${option}`, v);
      else if (key !== "type") fields.set(key, value);
    }
    return fields;
  };
  const fa = flat(a);
  const fb = flat(b);
  return [...new Set([...fa.keys(), ...fb.keys()])]
    .filter((field) => firstDifference(fa.get(field), fb.get(field), field) !== undefined)
    .map((field) => ({ field, a: fa.get(field), b: fb.get(field) }));
}

interface Difference {
  field: string;
  a: unknown;
  b: unknown;
}

/**
 * The first place two JSON values differ, depth first in `a`'s key order (then keys only `b` has);
 * undefined if equal. Key order does not matter, so logs written before and after a change that
 * reorders fields compare equal; an absent key and an undefined one are the same.
 */
function firstDifference(a: unknown, b: unknown, path: string): Difference | undefined {
  if (a === b) return undefined;
  const objects = typeof a === "object" && a !== null && typeof b === "object" && b !== null;
  if (!objects || Array.isArray(a) !== Array.isArray(b)) return { field: path, a, b };
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  for (const key of new Set([...Object.keys(ra), ...Object.keys(rb)])) {
    const found = firstDifference(ra[key], rb[key], path ? `${path}.${key}` : key);
    if (found) return found;
  }
  return undefined;
}

export type DiffResult = { ok: true; diff: LogDiff } | { ok: false; message: string };

/** Compare two log files, read side by side; bad input (as read.ts words it) is a failure. */
export async function diffLogFiles(
  pathA: string,
  pathB: string,
  options: { context?: number; chunk?: number } = {},
): Promise<DiffResult> {
  const differ = new LogDiffer({ a: pathA, b: pathB }, options.context);
  const readA = pullLogFile(pathA, options);
  const readB = pullLogFile(pathB, options);
  let endA: StreamResult | undefined;
  let endB: StreamResult | undefined;
  try {
    while (!endA || !endB) {
      const [nextA, nextB] = await Promise.all([
        endA ? undefined : readA.next(),
        endB ? undefined : readB.next(),
      ]);
      if (nextA?.done) endA = nextA.value;
      if (nextB?.done) endB = nextB.value;
      for (const [end, path] of [
        [endA, pathA],
        [endB, pathB],
      ] as const) {
        if (end && !end.ok) return { ok: false, message: end.message };
        if (end?.ok && end.lines === 0)
          return {
            ok: false,
            message: `${path} is empty: a run log has a header line, then one line per message`,
          };
      }
      const lineA = nextA?.done === false ? nextA.value : undefined;
      const lineB = nextB?.done === false ? nextB.value : undefined;
      if (lineA || lineB) differ.add(lineA, lineB);
    }
  } finally {
    // After a bad line in one file, the other's read is still open.
    const stopped: StreamResult = { ok: false, message: "not read to the end" };
    await Promise.all([readA.return(stopped), readB.return(stopped)]);
  }
  return { ok: true, diff: differ.finish() };
}

// ---- Rendering ----

/** Before the divergence both logs print the same, so a line is shown once, unlabelled (as diff -u). */
const LABEL = { both: "     ", a: "  A  ", b: "  B  " };

/** The diff as `cocomem diff` prints it: `identical`, or the divergence with context, then the summary. */
export function formatDiff(diff: LogDiff): string[] {
  const d = diff.divergence;
  if (!d) {
    const ending = diff.a.verdict ? diff.a.verdict.outcome : "cut short: no verdict";
    return [`identical (${diff.a.lines} lines, ${ending})`, ...headerLines(diff)];
  }
  const what = d.ended
    ? `${d.ended} ends (${endingOf(d.ended === "A" ? diff.a : diff.b)})`
    : `${d.field}: ${showValue(d.field!, d.a)} (A), ${showValue(d.field!, d.b)} (B)`;
  const out = [`first difference at ${where(d)}: ${what}`];
  for (const { a, b } of d.before) {
    if (a.text === b.text) out.push(`${LABEL.both}${a.text}`);
    else out.push(`${LABEL.a}${a.text}`, `${LABEL.b}${b.text}`);
  }
  out.push(...d.linesA.map((l) => `${LABEL.a}${l.text}`));
  if (d.ended === "A") out.push(`${LABEL.a}(end of log)`);
  out.push(...d.linesB.map((l) => `${LABEL.b}${l.text}`));
  if (d.ended === "B") out.push(`${LABEL.b}(end of log)`);
  out.push("", ...summaryLines(diff));
  return out;
}

/** "line N (seq S)": formatLine shows seqs, and a log's lines count from its header. */
function where(d: Divergence): string {
  const seq = (line: ShownLine | undefined) => (line && "seq" in line.line ? ` (seq ${line.line.seq})` : "");
  const [a, b] = [d.linesA[0], d.linesB[0]];
  const atA = `${d.lineA}${seq(a)}`;
  const atB = `${d.lineB}${seq(b)}`;
  if (atA === atB || (!b && d.lineA === d.lineB)) return `line ${atA}`;
  if (!a && d.lineA === d.lineB) return `line ${atB}`;
  return `line ${atA} of A, line ${atB} of B`;
}

function summaryLines(diff: LogDiff): string[] {
  const { a, b } = diff;
  const out = [
    `A: ${a.path}: ${a.lines} lines, ${endingOf(a)}`,
    `B: ${b.path}: ${b.lines} lines, ${endingOf(b)}`,
    ...headerLines(diff),
  ];
  if (a.verdict && b.verdict)
    out.push(
      a.verdict.outcome === b.verdict.outcome
        ? `outcome: same (${a.verdict.outcome})`
        : `outcome: different: ${a.verdict.outcome} (A), ${b.verdict.outcome} (B)`,
    );
  else out.push(`outcome: unknown: ${a.verdict ? "B was" : b.verdict ? "A was" : "both were"} cut short`);
  const { onlyA, onlyB, both } = diff.violations;
  out.push(
    onlyA.length + onlyB.length + both === 0
      ? "violations: none"
      : `violations: ${both} in both, ${onlyA.length} only in A, ${onlyB.length} only in B`,
    ...onlyA.map((v) => `  only in A: ${v}`),
    ...onlyB.map((v) => `  only in B: ${v}`),
  );
  const counts = (record: Record<string, number>) => new Map(Object.entries(record));
  const zeroed = [counts(diff.zeroings.a), counts(diff.zeroings.b)];
  out.push(
    "",
    ...(zeroed.every((c) => c.size === 0)
      ? ["who zeroed: nobody zeroed a page in either"]
      : zeroingTable([
          { label: "A", counts: zeroed[0]! },
          { label: "B", counts: zeroed[1]! },
        ])),
  );
  return out;
}

const endingOf = (log: LogSummary): string =>
  log.verdict ? `${log.verdict.outcome}: ${log.verdict.reason}` : "cut short: no verdict";

function headerLines(diff: LogDiff): string[] {
  if (diff.header.length === 0) return [];
  const values = diff.header.map(
    ({ field, a, b }) => `${field} ${showValue(field, a)} (A), ${showValue(field, b)} (B)`,
  );
  return [`header: ${values.join("; ")}`];
}

/** A field's value as formatLine prints it (addresses in hex, statuses by name); references as distances. */
function showValue(field: string, value: unknown): string {
  if (value === undefined) return "absent";
  const key = field.split(".").at(-1)!;
  if (key === "re" || key === "causedBy")
    return value === "far" ? `over ${REFERENCE_WINDOW} lines back` : `${value} lines back`;
  return formatFields({ [key]: value }).slice(key.length + 1);
}
