// `cocomem view FILE`: one self-contained HTML page showing a run (a JSONL log, or an explorer
// replay file, which is run again): party columns, arrows, effects, violations, page timelines,
// filters. It prints the page's path; the page opens from disk and fetches nothing.
import { accessSync, constants, realpathSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Command } from "commander";
import { viewerHtml } from "../view/html.ts";
import { loadViewData, ViewInputError } from "../view/source.ts";
import { type CliIo, EXIT, parseArgs, parseSeq, processIo, subcommand, usageError } from "./io.ts";

function buildCommand(io: CliIo): Command {
  return subcommand(
    "view",
    "write a run log (or an explorer replay file) as one HTML page to open in a browser",
    io,
  )
    .argument(
      "<file>",
      "a JSONL run log (cocomem run --log FILE) or a replay file (cocomem explore --out DIR)",
    )
    .option("--out <file>", "where to write the page (default: FILE with .html for its extension)")
    .option("--from <seq>", "only lines from this seq on (with the header and the verdict)", parseSeq)
    .option("--to <seq>", "only lines up to this seq", parseSeq);
}

/** Past this many lines, say that the page is slow to open and how to make a smaller one. */
const LARGE = 300_000;

/** FILE.jsonl -> FILE.html; FILE.replay.json -> FILE.replay.html. */
const defaultOut = (file: string): string => `${file.replace(/\.(jsonl|json|log)$/i, "")}.html`;

/** The same file, whatever path names it (a page must never overwrite its input). */
function sameFile(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

/** Why a file cannot be written at `path`, if its folder is missing or not writable. */
function writableFolder(path: string): string | undefined {
  try {
    accessSync(dirname(resolve(path)), constants.W_OK);
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ENOENT"
      ? "its folder does not exist"
      : "its folder is not writable";
  }
}

export async function viewCommand(argv: string[], io: CliIo = processIo): Promise<number> {
  const command = buildCommand(io);
  const stop = parseArgs(command, argv, io);
  if (stop !== undefined) return stop;
  const file = command.args[0]!;
  const { out: given, from, to } = command.opts<{ out?: string; from?: number; to?: number }>();
  const out = given ?? defaultOut(file);
  if (from !== undefined && to !== undefined && from > to)
    return usageError(io, `view: --from ${from} is after --to ${to}`);
  if (sameFile(file, out)) return usageError(io, `view: --out ${out} is the input file itself`);
  // Before reading (or replaying) anything: the page must have somewhere to go.
  const folder = writableFolder(out);
  if (folder !== undefined) return usageError(io, `view: cannot write ${out}: ${folder}`);
  let html: string;
  try {
    const data = await loadViewData(file, { from, to });
    if (data.lines.length > LARGE)
      io.err(
        `cocomem view: ${data.lines.length} lines: the page takes about 1.5 s per 100,000 lines to open; --from and --to make a page of a part\n`,
      );
    html = await viewerHtml(data);
  } catch (error) {
    if (error instanceof ViewInputError) return usageError(io, `view: ${error.message}`);
    throw error;
  }
  try {
    writeFileSync(out, html);
  } catch (error) {
    return usageError(io, `view: cannot write ${out}: ${(error as Error).message}`);
  }
  io.out(`${out}\n`);
  return EXIT.ok;
}
