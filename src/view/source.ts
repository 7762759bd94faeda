// What `cocomem view` shows: a run log (JSONL) read whole and checked line by line, or an explorer
// replay file run again with its tape. Bad input is one line naming the file (and the line); a log
// cut short is shown as far as it goes, with why it stops.
import { readFileSync } from "node:fs";
import type { HostAction } from "../adversaries/any/adversary.ts";
import { REPLAY_FORMAT, readReplay, replay } from "../explore/replay-file.ts";
import { departures, story } from "../explore/story.ts";
import { parseLog } from "../log/read.ts";
import type { ViewData } from "./view-data.ts";

/** Thrown with a one-line message for the user: the file cannot be shown. */
export class ViewInputError extends Error {}

/** Which seqs to show: all by default. */
export interface SeqRange {
  from?: number;
  to?: number;
}

/**
 * Read `path` as a run log or a replay file; with a range, keep the lines whose seq is in it, plus
 * the header and the verdict (a slice of a log too large to open whole).
 */
export async function loadViewData(path: string, range: SeqRange = {}): Promise<ViewData> {
  const data = await loadWhole(path);
  if (range.from === undefined && range.to === undefined) return data;
  const { from = 0, to = Number.POSITIVE_INFINITY } = range;
  const lines = data.lines.filter(
    (line) => line.type === "header" || line.type === "verdict" || (line.seq >= from && line.seq <= to),
  );
  return { ...data, lines, slice: { ...range, of: data.lines.length } };
}

async function loadWhole(path: string): Promise<ViewData> {
  let text: string;
  try {
    text = readFileSync(path, "utf8").replace(/^\uFEFF/, "");
  } catch (error) {
    throw new ViewInputError(`${path}: cannot read: ${(error as NodeJS.ErrnoException).message}`);
  }
  if (isReplayFile(text)) return replayData(path);
  return logData(path, text);
}

/** A replay file is one pretty-printed JSON object; a log is one object per line. */
function isReplayFile(text: string): boolean {
  if (!text.trimStart().startsWith("{") || !text.includes(`"${REPLAY_FORMAT}"`)) return false;
  try {
    return (JSON.parse(text) as { format?: unknown }).format === REPLAY_FORMAT;
  } catch {
    return false;
  }
}

function logData(path: string, text: string): ViewData {
  const firstLine = text.split("\n", 1)[0]!.trim();
  if (firstLine === "") throw new ViewInputError(`${path} is empty, or does not start with a log header`);
  if (!startsAsLog(firstLine))
    throw new ViewInputError(
      `${path} is not a cocomem run log: its first line is not a log header (write one with cocomem run --log FILE)`,
    );
  const read = parseLog(text, path);
  if (read.ok) return withVerdictCheck({ source: path, lines: read.lines });
  // A run killed in the middle of a write leaves a last line cut short: show what came before it.
  const rows = text.split("\n");
  let last = rows.length;
  while (last > 0 && rows[last - 1]!.trim() === "") last--;
  if (read.line === last && !text.endsWith("\n")) {
    const before = parseLog(rows.slice(0, last - 1).join("\n"), path);
    if (before.ok)
      return { source: path, lines: before.lines, cut: `line ${last} is cut short: the run was killed` };
  }
  throw new ViewInputError(read.message);
}

/** Whether the line is a JSON object claiming to be a header (its format is checked later). */
function startsAsLog(line: string): boolean {
  try {
    return (JSON.parse(line) as { type?: unknown }).type === "header";
  } catch {
    return false;
  }
}

function withVerdictCheck(data: ViewData): ViewData {
  if (data.lines.some((line) => line.type === "verdict")) return data;
  return { ...data, cut: "no verdict line: the run was killed, or is still running" };
}

async function replayData(path: string): Promise<ViewData> {
  const journal: HostAction[] = [];
  let verdict: Awaited<ReturnType<typeof replay>>;
  const file = (() => {
    try {
      return readReplay(path);
    } catch (error) {
      throw new ViewInputError((error as Error).message);
    }
  })();
  try {
    verdict = await replay(file, journal);
  } catch (error) {
    throw new ViewInputError(`${path}: cannot replay: ${(error as Error).message}`);
  }
  const result =
    verdict.kind === "reproduced"
      ? `reproduced ${verdict.finding.key}: the log is identical to the one the explorer recorded`
      : verdict.kind === "diverged"
        ? `diverged: ${verdict.where}`
        : `not reproduced: ${verdict.why}`;
  const marked = departures(verdict.log, journal).map(({ after, line, text }) => ({
    seq: line ?? after,
    text: line === undefined ? `${text} (after this delivery)` : text,
  }));
  return withVerdictCheck({
    source: path,
    lines: verdict.log,
    replay: { result, story: story(verdict.log, journal, file.finding), marked, shrunk: file.shrunk },
  });
}
