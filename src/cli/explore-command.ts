// `cocomem explore`: search host behaviours and delivery orders for runs where a monitor fires,
// shrink each finding, tell it as a story and write a replay file (src/explore).

import { SingleBar } from "cli-progress";
import { type Command, InvalidArgumentError, Option } from "commander";
import type { ProfileName } from "../../protocol/profiles.ts";
import { targetOf } from "../explore/batch.ts";
import { type Counterexample, writeCounterexample } from "../explore/findings.ts";
import {
  DEFAULT_DFS_DEPTH,
  defaultWorkers,
  type ExploreProgress,
  type ExploreSummary,
  explore,
} from "../explore/search.ts";
import { STRATEGY_NAMES, type StrategyName } from "../explore/strategies.ts";
import { isAttackId, type Target, type TargetSpec } from "../explore/target.ts";
import { loadScenario } from "../scenarios/load.ts";
import {
  type CliIo,
  EXIT,
  guestPolicyOption,
  interruptedExit,
  interruptible,
  parseArgs,
  parseSeed,
  processIo,
  profileOption,
  profileProblem,
  subcommand,
  usageError,
} from "./io.ts";

/** Without --runs or --time. */
const DEFAULT_RUNS = 10_000;
const DEFAULT_OUT = "cocomem-findings";
/** How often a non-terminal gets a progress line. */
const PLAIN_EVERY_MS = 5000;

interface ExploreFlags {
  adversary: string;
  strategy: StrategyName | "portfolio";
  runs?: number;
  time?: number;
  depth: number;
  workers: number;
  seed: number;
  guestPolicy?: "linux" | "naive";
  profile?: ProfileName;
  mutant?: "skip-zeroing";
  out: string;
  first?: boolean;
  json?: boolean;
  progress: boolean;
}

const wholeNumber = (what: string, max: number) => (text: string) => {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max)
    throw new InvalidArgumentError(`${what} is a whole number from 1 to ${max}`);
  return Number(text);
};

function buildCommand(io: CliIo): Command {
  return subcommand(
    "explore",
    "search host behaviours and delivery orders for runs where a monitor fires; shrink, tell and save each finding",
    io,
  )
    .argument("<scenario>", "built-in scenario name or path to a scenario file")
    .option(
      "--adversary <host>",
      "any (the generic adversary), honest, a corpus attack A1-A13, or a host plug-in file",
      "any",
    )
    .addOption(
      new Option("--strategy <strategy>", "how runs make their choices")
        .choices(STRATEGY_NAMES)
        .default("portfolio"),
    )
    .option("--runs <n>", `stop after n runs (default ${DEFAULT_RUNS})`, wholeNumber("--runs", 1e9))
    .option("--time <seconds>", "stop after this many seconds instead", wholeNumber("--time", 86_400))
    .option(
      "--depth <k>",
      "dfs: the most choices a run may change from the default",
      wholeNumber("--depth", 16),
      DEFAULT_DFS_DEPTH,
    )
    .option(
      "--workers <n>",
      "worker threads (default: the machine's cores)",
      wholeNumber("--workers", 256),
      defaultWorkers(),
    )
    .option("--seed <n>", "the exploration's seed: same seed and budget = same findings", parseSeed, 1)
    .addOption(guestPolicyOption())
    .addOption(profileOption())
    .addOption(
      new Option("--mutant <mutant>", "run a deliberately broken trusted entity").choices(["skip-zeroing"]),
    )
    .option("--out <dir>", "where replay files go", DEFAULT_OUT)
    .option("--first", "stop at the first finding (runs already handed out still finish)")
    .option("--json", "print the summary as JSON")
    .option("--no-progress", "no progress bar or progress lines");
}

export async function exploreCommand(argv: string[], io: CliIo = processIo): Promise<number> {
  const command = buildCommand(io);
  const stop = parseArgs(command, argv, io);
  if (stop !== undefined) return stop;
  const flags = command.opts<ExploreFlags>();
  const name = command.args[0]!;
  if (flags.runs !== undefined && flags.time !== undefined)
    return usageError(io, "give --runs or --time, not both");
  if (flags.depth !== DEFAULT_DFS_DEPTH && flags.strategy !== "dfs")
    return usageError(io, "--depth bounds --strategy dfs only");
  const loaded = await loadScenario(name);
  if (!loaded.ok) return usageError(io, loaded.error);
  const platform = loaded.scenario.spec.platform;
  const wrongProfile = profileProblem(flags.profile, platform, name);
  if (wrongProfile) return usageError(io, wrongProfile);
  const adversary = flags.adversary;
  const looksLikeFile = /\.(ts|mts|js|mjs)$/.test(adversary);
  if (!["any", "honest"].includes(adversary) && !isAttackId(adversary) && !looksLikeFile)
    return usageError(
      io,
      `--adversary ${adversary}: give any, honest, a corpus attack (A1-A13) or a .ts/.js plug-in file`,
    );
  const spec: TargetSpec = {
    scenario: name,
    adversary,
    ...(flags.guestPolicy ? { guestPolicy: flags.guestPolicy } : {}),
    ...(flags.profile ? { profile: flags.profile } : {}),
    ...(flags.mutant ? { mutant: { skipZeroing: true } } : {}),
  };
  let target: Target;
  try {
    target = await targetOf(spec);
  } catch (error) {
    return usageError(io, (error as Error).message);
  }
  const runs = flags.time === undefined ? (flags.runs ?? DEFAULT_RUNS) : undefined;
  if (!flags.json)
    io.out(
      `exploring ${name} (${platform}, guest ${flags.guestPolicy ?? loaded.scenario.spec.guest.policy}) against ${hostName(adversary)}: ` +
        `${flags.strategy}${flags.strategy === "dfs" ? ` to depth ${flags.depth}` : ""}, seed ${flags.seed}, ` +
        `${runs === undefined ? `${flags.time} s` : `${runs} runs`}, ${flags.strategy === "dfs" ? 1 : flags.workers} worker${flags.workers === 1 || flags.strategy === "dfs" ? "" : "s"}\n`,
    );
  const display = flags.progress && !flags.json ? progressDisplay(io, runs, flags.time) : undefined;
  const { result: summary, interrupted } = await interruptible((signal) =>
    explore({
      target: spec,
      strategy: flags.strategy,
      seed: flags.seed,
      ...(runs === undefined ? { seconds: flags.time! } : { runs }),
      workers: flags.workers,
      depth: flags.depth,
      ...(flags.first ? { first: true } : {}),
      signal,
      ...(display ? { onProgress: display.update } : {}),
    }).finally(() => display?.stop()),
  );
  // Interrupted: write what was found as it was found (shrinking takes replays; the user asked to stop).
  const examples: Counterexample[] = [];
  for (const found of summary.found)
    examples.push(
      await writeCounterexample(target, found, {
        outDir: flags.out,
        exploreSeed: flags.seed,
        shrink: !interrupted,
      }),
    );
  if (flags.json) io.out(`${JSON.stringify(jsonSummary(summary, examples), null, 2)}\n`);
  else io.out(textSummary(summary, examples, platform));
  if (interrupted) return interruptedExit(interrupted);
  return examples.length > 0 ? EXIT.failed : EXIT.ok;
}

function hostName(adversary: string): string {
  if (adversary === "any") return "the generic adversary";
  if (adversary === "honest") return "the honest host";
  return isAttackId(adversary) ? `attack ${adversary}` : `host plug-in ${adversary}`;
}

/** A progress bar on a terminal; a line every few seconds otherwise. */
function progressDisplay(io: CliIo, runs: number | undefined, seconds: number | undefined) {
  const total = runs ?? seconds!;
  const stats = (p: ExploreProgress) => {
    const rate = p.elapsedMs > 0 ? Math.round((p.runs * 1000) / p.elapsedMs) : 0;
    return `${rate} runs/s, coverage ${p.transitions} transitions + ${p.cells}/${p.cellTotal} cells, ${p.findings} finding${p.findings === 1 ? "" : "s"}${p.shortest === undefined ? "" : ` (shortest ${p.shortest} host actions)`}`;
  };
  const value = (p: ExploreProgress) =>
    runs === undefined ? Math.min(total, Math.floor(p.elapsedMs / 1000)) : p.runs;
  if (process.stderr.isTTY && io === processIo) {
    const bar = new SingleBar({
      format: " {bar} {value}/{total} {unit} | {stats}",
      hideCursor: true,
      clearOnComplete: true,
      stream: process.stderr,
    });
    bar.start(total, 0, { unit: runs === undefined ? "s" : "runs", stats: "" });
    return {
      update: (p: ExploreProgress) => bar.update(value(p), { stats: stats(p) }),
      stop: () => bar.stop(),
    };
  }
  let last = 0;
  return {
    update: (p: ExploreProgress) => {
      if (p.elapsedMs - last < PLAIN_EVERY_MS) return;
      last = p.elapsedMs;
      io.err(
        `  ${p.runs} runs${runs === undefined ? "" : ` of ${runs}`}, ${(p.elapsedMs / 1000).toFixed(0)} s: ${stats(p)}\n`,
      );
    },
    stop: () => {},
  };
}

function textSummary(summary: ExploreSummary, examples: Counterexample[], platform: string): string {
  const seconds = summary.elapsedMs / 1000;
  const table = platform === "tdx" ? "S-EPT state x SEAMCALL" : "stage-2 state x host hypercall";
  const lines = [
    `${summary.interrupted ? "interrupted after " : ""}${summary.runs} runs in ${seconds.toFixed(1)} s (${Math.round(summary.runs / Math.max(seconds, 0.001))} runs/s): ` +
      `${examples.length} finding${examples.length === 1 ? "" : "s"}`,
    `coverage: ${summary.transitions} message transitions, ${summary.cells} of ${summary.cellTotal} ${table} cells`,
    `outcomes: ${Object.entries(summary.outcomes)
      .sort((a, b) => b[1] - a[1])
      .map(([outcome, n]) => `${outcome} ${n}`)
      .join(", ")}`,
  ];
  if (summary.exhausted !== undefined)
    lines.push(
      summary.exhausted
        ? `bounded search exhausted: ${examples.length === 0 ? "no finding" : "these findings"} in all ${summary.runs} runs of up to ${summary.depth} changed choices`
        : `bounded search not exhausted (to depth ${summary.depth}) within the budget`,
    );
  examples.forEach((example, i) => {
    const { found } = example;
    lines.push(
      "",
      `finding ${i + 1}: ${found.finding.key}`,
      `  first in run ${found.index} (${found.plan.strategy}), ${example.actionsFound} host actions; ` +
        (example.replay.shrunk
          ? `shrunk to ${example.actions} in ${example.shrinkRuns} replays`
          : "not shrunk (interrupted)"),
      ...example.story.map((line) => `  ${line}`),
      `  replay: cocomem replay ${example.file}`,
    );
  });
  return `${lines.join("\n")}\n`;
}

function jsonSummary(summary: ExploreSummary, examples: Counterexample[]) {
  return {
    runs: summary.runs,
    elapsedMs: Math.round(summary.elapsedMs),
    steps: summary.steps,
    interrupted: summary.interrupted,
    outcomes: summary.outcomes,
    coverage: { transitions: summary.transitions, cells: summary.cells, cellTotal: summary.cellTotal },
    ...(summary.exhausted === undefined ? {} : { exhausted: summary.exhausted, depth: summary.depth }),
    findings: examples.map((e) => ({
      key: e.found.finding.key,
      run: e.found.index,
      strategy: e.found.plan.strategy,
      hostActionsFound: e.actionsFound,
      hostActions: e.actions,
      shrunk: e.replay.shrunk,
      file: e.file,
      story: e.story,
    })),
  };
}
