// A counterexample on disk: everything that makes the run (cocomem version, the scenario and its
// hash, the options, the plan, the choice tape) and what it showed (the finding, the log's line
// count and sha256). `cocomem replay FILE` runs it again with the tape in strict mode and says
// whether it reproduced byte for byte, or where it diverged.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { z } from "zod";
import { type LogLine, Outcome } from "../../protocol/log.ts";
import { ProfileName } from "../../protocol/profiles.ts";
import type { HostAction } from "../adversaries/any/adversary.ts";
import { SEND_KINDS, type SendKind } from "../adversaries/any/mix.ts";
import { type Choice, replayStrategy, STREAMS } from "../kit/choice.ts";
import { COCOMEM_VERSION } from "../run/version.ts";
import type { Plan } from "./batch.ts";
import { type ExploreRun, exploreRun, type Finding, findingOf, violationLine } from "./runner.ts";
import { actionCount } from "./shrink.ts";
import { openTarget, type Target, type TargetSpec } from "./target.ts";

export const REPLAY_FORMAT = "cocomem-replay";
export const REPLAY_VERSION = 1;

const ChoiceSchema = z.strictObject({
  stream: z.enum(STREAMS as [string, ...string[]]),
  label: z.string(),
  n: z.number().int().min(2),
  value: z.number().int().nonnegative(),
});

const FindingSchema = z.strictObject({
  key: z.string(),
  monitor: z.string(),
  invariant: z.string(),
  responsible: z.enum(["guest", "host", "fw", "hw", "model"]),
  detail: z.string(),
});

export const ReplayFile = z.strictObject({
  format: z.literal(REPLAY_FORMAT),
  version: z.literal(REPLAY_VERSION),
  cocomem: z.string(),
  target: z.strictObject({
    scenario: z.string(),
    adversary: z.string(),
    guestPolicy: z.enum(["linux", "naive"]).optional(),
    profile: ProfileName.optional(),
    mutant: z.strictObject({ skipZeroing: z.boolean().optional() }).optional(),
    maxSteps: z.number().int().positive().optional(),
  }),
  scenarioHash: z.string().regex(/^[0-9a-f]{64}$/),
  platform: z.enum(["tdx", "pkvm"]),
  profile: ProfileName,
  policy: z.enum(["linux", "naive"]),
  plan: z.strictObject({
    strategy: z.enum(["random", "pct", "swarm", "dfs"]),
    /** The exploration's seed and this run's number in it (how it was found). */
    exploreSeed: z.number().int(),
    run: z.number().int().nonnegative(),
    /** The run's own seed (message ids). */
    seed: z.number().int(),
    mix: z.strictObject({
      inject: z.union([z.literal("all"), z.array(z.string())]),
      send: z.array(z.enum(SEND_KINDS as readonly SendKind[] as [SendKind, ...SendKind[]])),
      build: z.boolean(),
    }),
  }),
  shrunk: z.boolean(),
  hostActions: z.number().int().nonnegative(),
  tape: z.array(ChoiceSchema),
  finding: FindingSchema,
  outcome: Outcome,
  log: z.strictObject({ lines: z.number().int().positive(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
});
export type ReplayFile = z.infer<typeof ReplayFile>;

/** The log as its JSONL file holds it, hashed. */
export function logDigest(log: readonly LogLine[]): { lines: number; sha256: string } {
  const hash = createHash("sha256");
  for (const line of log) hash.update(`${JSON.stringify(line)}\n`);
  return { lines: log.length, sha256: hash.digest("hex") };
}

/** What the explorer knows of a counterexample besides its run: how it was found and made. */
export interface ReplayMeta {
  readonly target: Target;
  readonly plan: Plan;
  readonly exploreSeed: number;
  readonly run: number;
  readonly shrunk: boolean;
}

/** A replay file from a counterexample's run (made with its log kept). */
export function replayFileOf(meta: ReplayMeta, run: ExploreRun): ReplayFile {
  const { target, plan } = meta;
  if (!run.finding) throw new Error("bug: a counterexample replayed without its finding");
  const report = run.report;
  return {
    format: REPLAY_FORMAT,
    version: REPLAY_VERSION,
    cocomem: COCOMEM_VERSION,
    target: target.spec as ReplayFile["target"],
    scenarioHash: target.scenarioHash,
    platform: target.platform,
    profile: report.profile,
    policy: report.policy,
    plan: {
      strategy: plan.strategy,
      exploreSeed: meta.exploreSeed,
      run: meta.run,
      seed: plan.seed,
      mix: plan.mix as ReplayFile["plan"]["mix"],
    },
    shrunk: meta.shrunk,
    hostActions: actionCount(run.tape),
    // The tape the run made (a lenient tape padded with the defaults it read): strict replay needs them all.
    tape: run.tape.map((c) => ({ ...c })),
    finding: run.finding,
    outcome: report.result.outcome,
    log: logDigest(report.log),
  };
}

export function writeReplay(path: string, file: ReplayFile): void {
  writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`);
}

export function readReplay(path: string): ReplayFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8").replace(/^\uFEFF/, ""));
  } catch (error) {
    throw new Error(`${path}: not a replay file (${(error as Error).message})`);
  }
  const parsed = ReplayFile.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${path}: not a valid replay file: ${issue.path.join(".") || "(top)"}: ${issue.message}`);
  }
  return parsed.data;
}

export type ReplayVerdict =
  | {
      readonly kind: "reproduced";
      readonly finding: Finding;
      readonly seq: number | undefined;
      readonly log: LogLine[];
    }
  | { readonly kind: "diverged"; readonly where: string; readonly log: LogLine[] }
  | { readonly kind: "different"; readonly why: string; readonly log: LogLine[] };

/**
 * Run a replay file's tape strictly: the same log, or the first choice that no longer fits.
 * `journal` receives the generic adversary's actions (to tell or mark the departures).
 */
export async function replay(file: ReplayFile, journal?: HostAction[]): Promise<ReplayVerdict> {
  const target = await openTarget(file.target as TargetSpec);
  if (target.scenarioHash !== file.scenarioHash)
    throw new Error(
      `scenario "${file.target.scenario}" changed since the replay file was written (its hash differs)`,
    );
  const run = await exploreRun(target, {
    seed: file.plan.seed,
    mix: file.plan.mix,
    strategy: replayStrategy(file.tape as Choice[], { mode: "strict" }),
    keepLog: true,
    ...(journal ? { journal } : {}),
  });
  const log = run.report.log;
  const { reason } = run.report.result.underlying;
  if (/^the replay diverged/.test(reason)) return { kind: "diverged", where: reason, log };
  const digest = logDigest(log);
  const finding = findingOf(run.report);
  if (finding?.key !== file.finding.key)
    return {
      kind: "different",
      why: `the run showed ${finding?.key ?? "no finding"}, not ${file.finding.key}`,
      log,
    };
  if (digest.sha256 !== file.log.sha256)
    return {
      kind: "different",
      why: `same finding, but the log differs (${digest.lines} lines, sha256 ${digest.sha256.slice(0, 12)}; recorded ${file.log.lines} lines, ${file.log.sha256.slice(0, 12)})`,
      log,
    };
  return { kind: "reproduced", finding, seq: violationLine(log, finding)?.seq, log };
}
