// From what a search found to what a user reads: each distinct finding shrunk (shrink.ts), told as
// a story (story.ts) and written as a replay file (replay-file.ts).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { HostAction } from "../adversaries/any/adversary.ts";
import type { FoundRun } from "./batch.ts";
import { type ReplayFile, replayFileOf, writeReplay } from "./replay-file.ts";
import { exploreRun } from "./runner.ts";
import { shrink } from "./shrink.ts";
import { story } from "./story.ts";
import { lenient } from "./strategies.ts";
import type { Target } from "./target.ts";

export interface Counterexample {
  readonly found: FoundRun;
  /** Host actions before and after shrinking. */
  readonly actionsFound: number;
  readonly actions: number;
  readonly shrinkRuns: number;
  readonly story: string[];
  readonly file: string;
  readonly replay: ReplayFile;
}

/** A file name from a finding: its run number and key, lower case, dashes. */
function fileNameOf(found: FoundRun): string {
  const slug = found.finding.key
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
  return `run-${found.index}-${slug}.json`;
}

export async function writeCounterexample(
  target: Target,
  found: FoundRun,
  options: { outDir: string; exploreSeed: number; shrink: boolean },
): Promise<Counterexample> {
  const { plan } = found;
  const shrunk = options.shrink
    ? await shrink(target, found.finding, { tape: found.tape, seed: plan.seed, mix: plan.mix })
    : { tape: found.tape, runs: 0 };
  // One replay of the final tape, its log kept: the story and the replay file both come from it.
  const journal: HostAction[] = [];
  const run = await exploreRun(target, {
    seed: plan.seed,
    mix: plan.mix,
    strategy: lenient(shrunk.tape),
    keepLog: true,
    journal,
  });
  const replay = replayFileOf(
    { target, plan, exploreSeed: options.exploreSeed, run: found.index, shrunk: options.shrink },
    run,
  );
  mkdirSync(options.outDir, { recursive: true });
  const file = join(options.outDir, fileNameOf(found));
  writeReplay(file, replay);
  return {
    found,
    actionsFound: found.actions,
    actions: replay.hostActions,
    shrinkRuns: shrunk.runs,
    story: story(run.report.log, journal, found.finding),
    file,
    replay,
  };
}
