// Running a scenario: build the three parties for its platform, hand them to the orchestrator
// with the standard monitors, and compare the verdict with what the scenario expects.

import type { PartyName } from "../../protocol/index.ts";
import { LOG_FORMAT_VERSION, type LogLine, type Outcome } from "../../protocol/log.ts";
import { type ProfileName, profileFor } from "../../protocol/profiles.ts";
import type { ScenarioSpec, TrustedMutant } from "../../protocol/scenario.ts";
import type { Adversary } from "../adversaries/api.ts";
import {
  type Choice,
  type Recording,
  recording,
  type Strategy,
  type StrategySpec,
  strategyOf,
} from "../kit/choice.ts";
import { standardMonitors } from "../monitors/index.ts";
import type { Monitor } from "../monitors/monitor.ts";
import { FileLog, type LogWriter, MemoryLog, TeeLog } from "../runtime/log-writer.ts";
import { Orchestrator, type RunResult } from "../runtime/orchestrator.ts";
import { expectationFor, isOwnRun, type Scenario } from "../scenarios/define.ts";
import type { AdversarySource } from "./parties.ts";
import { inprocTransport, type Transport } from "./transport.ts";
import { COCOMEM_VERSION } from "./version.ts";

export interface RunOptions {
  seed?: number;
  /** Override the scenario's guest policy. */
  guestPolicy?: "linux" | "naive";
  /** Override the scenario's profile (the versions of the real systems to follow). */
  profile?: ProfileName;
  /** Also write the log to this JSONL file, line by line. */
  logFile?: string;
  /**
   * Keep the log in memory as `RunReport.log` (default true). Off, the log goes only to the
   * monitors and to `logFile`, and memory stays flat however long the run: `cocomem run` turns it
   * off. A scenario whose `check` reads the log gets it either way.
   */
  keepLog?: boolean;
  maxSteps?: number;
  /**
   * End the run as `stalled` once the same exchange (request and answer) has repeated this many
   * times with nothing changing in between (default DEFAULT_STALL_AFTER, src/runtime/progress.ts).
   */
  stallAfter?: number;
  /** An adversarial host in place of the honest one (wrapping it, or replacing it). */
  adversary?: Adversary;
  /** How long a party in another process, or a plug-in host, may take to answer one delivery. */
  answerTimeoutMs?: number;
  /** The same for its start (forking, loading the model and any plug-in); default 30 s. */
  startTimeoutMs?: number;
  /** Abort to end the run early with an `interrupted` verdict (the log stays complete). */
  signal?: AbortSignal;
  /** Run a deliberately broken trusted entity (attack A11). */
  mutant?: TrustedMutant;
  /** Where the parties run: `inprocTransport` (default), or the process transport (src/transport). */
  transport?: Transport;
  /** A host plug-in by file (either transport): the `process` transport loads it in the host's process only. */
  hostPlugin?: string;
  /** An attack of the built-in corpus by id (A1-A13) as the host; `process` builds it in the host's process. */
  attack?: string;
  /** Replay a choice tape instead of drawing choices from the seed (the seed still names message ids). */
  replay?: { tape: readonly Choice[]; mode?: "strict" | "lenient" };
  /** A strategy object of your own (the explorer's); it cannot cross into another process. */
  strategy?: Strategy;
  /** Record every choice the run makes: RunReport.tape. */
  recordTape?: boolean;
  /** Monitors to run beside the standard ones (the explorer's coverage): they see the same lines. */
  observers?: readonly Monitor[];
}

export interface RunReport {
  scenario: string;
  seed: number;
  profile: ProfileName;
  policy: "linux" | "naive";
  transport: Transport["name"];
  result: RunResult;
  /** The log lines, when kept in memory (`keepLog`); empty otherwise. */
  log: LogLine[];
  /** Expectations the run did not meet (empty: as expected). */
  unmet: string[];
  /** Every choice the run made, in order (with `recordTape`): replaying it reproduces the log. */
  tape?: readonly Choice[];
}

export const DEFAULT_SEED = 1;
const DEFAULT_MAX_STEPS = 20_000_000;

export async function runScenario(scenario: Scenario, options: RunOptions = {}): Promise<RunReport> {
  const seed = options.seed ?? DEFAULT_SEED;
  const transport = options.transport ?? inprocTransport;
  const policy = options.guestPolicy ?? scenario.spec.guest.policy;
  const profile = profileFor(scenario.spec.platform, options.profile ?? scenario.spec.profile).name;
  const spec: ScenarioSpec = { ...scenario.spec, profile, guest: { ...scenario.spec.guest, policy } };
  const adversary = adversarySource(options);
  const choices = strategyFor(options, seed);
  const { parties, untrusted, hostName } = await transport.parties(spec, {
    ...(options.mutant ? { mutant: options.mutant } : {}),
    ...(adversary ? { adversary } : {}),
    hostChoices: {
      chooser: choices.strategy.chooser("host"),
      spec: choices.spec,
      record: options.recordTape === true,
    },
  });
  const memory = new MemoryLog();
  const writers: LogWriter[] = [];
  if (options.keepLog !== false || (!hostName && needsLog(scenario, policy, profile))) writers.push(memory);
  if (options.logFile) writers.push(new FileLog(options.logFile));
  const log = new TeeLog(writers);
  log.write({
    type: "header",
    format: LOG_FORMAT_VERSION,
    cocomem: COCOMEM_VERSION,
    scenario: spec.name,
    platform: spec.platform,
    seed,
    profile,
    transport: transport.name,
    options: {
      guestPolicy: policy,
      ...(hostName ? { host: hostName } : {}),
      ...(options.hostPlugin ? { hostPlugin: options.hostPlugin } : {}),
      ...(options.mutant ? { mutant: options.mutant } : {}),
    },
  });
  const orchestrator = new Orchestrator({
    seed,
    parties,
    log,
    monitors: [
      ...standardMonitors(spec.platform, { partialWriteErratum: spec.host.partialWriteErratum }),
      ...(options.observers ?? []),
    ],
    strategy: choices.strategy,
    ...(choices.recording ? { noteChoices: choices.recording.note } : {}),
    untrusted: new Set<PartyName>(untrusted),
    maxSteps: options.maxSteps ?? DEFAULT_MAX_STEPS,
    ...(options.stallAfter === undefined ? {} : { stallAfter: options.stallAfter }),
    ...(hostName ? { adversarialHost: true } : {}),
    ...(options.answerTimeoutMs === undefined ? {} : { answerTimeoutMs: options.answerTimeoutMs }),
    ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const result = await orchestrator.run().finally(() => {
    for (const party of Object.values(parties)) party.close?.();
  });
  const report: RunReport = {
    scenario: spec.name,
    seed,
    profile,
    policy,
    transport: transport.name,
    result,
    log: memory.lines,
    unmet: [],
    ...(choices.recording ? { tape: choices.recording.tape } : {}),
  };
  report.unmet = hostName ? defencesHeld(hostName, report) : await expectationsUnmet(scenario, report);
  return report;
}

/** The run's strategy, recorded if asked, and its data form when it has one (for other processes). */
function strategyFor(
  options: RunOptions,
  seed: number,
): { strategy: Strategy; spec: StrategySpec | undefined; recording?: Recording } {
  const spec: StrategySpec | undefined = options.strategy
    ? undefined
    : options.replay
      ? { kind: "replay", tape: options.replay.tape, mode: options.replay.mode ?? "strict" }
      : { kind: "seeded", seed };
  const base = options.strategy ?? strategyOf(spec!);
  if (!options.recordTape) return { strategy: base, spec };
  const recorded = recording(base);
  return { strategy: recorded, spec, recording: recorded };
}

/** The adversarial host the options name, if any (at most one of the three ways to name one). */
function adversarySource(options: RunOptions): AdversarySource | undefined {
  const given = [options.adversary, options.hostPlugin, options.attack].filter((x) => x !== undefined);
  if (given.length > 1) throw new Error("give one of `adversary`, `hostPlugin` or `attack`");
  if (options.adversary) return { object: options.adversary };
  if (options.hostPlugin !== undefined) return { file: options.hostPlugin };
  if (options.attack !== undefined) return { attack: options.attack };
  return undefined;
}

/**
 * Under an adversarial host the expectation is that the defences hold: no violation. Refusing
 * service (a stall, a killed VM) is allowed; the guest stopping itself is a detection.
 */
function defencesHeld(plugin: string, report: RunReport): string[] {
  const v = report.result.violations[0];
  return v ? [`host "${plugin}" caused a violation: ${v.invariant} (${v.responsible} responsible)`] : [];
}

/** Whether the scenario's own check will run on this run, and so read its log. */
function needsLog(scenario: Scenario, policy: "linux" | "naive", profile: ProfileName): boolean {
  return scenario.check !== undefined && isOwnRun(scenario.spec, policy, profile);
}

/** The expectations of the scenario that this run did not meet. */
async function expectationsUnmet(scenario: Scenario, report: RunReport): Promise<string[]> {
  const found = expectationFor(scenario.spec, report.policy, report.profile);
  if ("missing" in found) return [found.missing];
  const expectation = found.expectation;
  const unmet: string[] = [];
  const expected: Outcome = expectation.outcome;
  if (report.result.outcome !== expected) {
    unmet.push(`outcome ${report.result.outcome} (${report.result.reason}), expected ${expected}`);
  }
  const reported = new Set(report.result.violations.map((v) => v.invariant));
  for (const invariant of expectation.violations) {
    if (!reported.has(invariant)) unmet.push(`expected violation "${invariant}" was not reported`);
  }
  if (isOwnRun(scenario.spec, report.policy, report.profile) && scenario.check)
    unmet.push(...(await scenario.check(report, (other, seed) => runScenario(other, { seed }))));
  return unmet;
}
