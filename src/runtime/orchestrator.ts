// The orchestrator owns a run: it starts the parties, asks the strategy which channel delivers
// next, logs each message before delivering it, stamps ids and sequence numbers, feeds the
// monitors, and admits what the parties answer. Nothing passes between parties any other way.
// Its helpers each do one job: channels.ts (the queues), admission.ts (what may pass),
// supervision.ts (crashes and hangs), progress.ts (a run going round in circles), verdict.ts (how
// the run ended), stats.ts (the counts).
import { type Address, type Effect, type Envelope, type PartyName, partyOf } from "../../protocol/index.ts";
import type { LogLine, Outcome, VerdictLine, ViolationLine } from "../../protocol/log.ts";
import {
  type Choice,
  type Chooser,
  type Divergence,
  type Strategy,
  seededStrategy,
  streamRng,
} from "../kit/choice.ts";
import type { Delivery, OutMsg, PartyEndpoint, StepOutput } from "../kit/party.ts";
import { seededIds } from "../kit/rng.ts";
import type { Finding, Monitor } from "../monitors/monitor.ts";
import {
  defaultAddress,
  effectProblem,
  isStepOutput,
  messageProblem,
  type OpenRequest,
} from "./admission.ts";
import { Channels } from "./channels.ts";
import type { LogWriter } from "./log-writer.ts";
import { describeStall, Progress } from "./progress.ts";
import { Stats } from "./stats.ts";
import { Supervision } from "./supervision.ts";
import { type Ending, ownEnding, RunFacts, type Verdict, verdict } from "./verdict.ts";

export interface OrchestratorOptions {
  seed: number;
  parties: Record<PartyName, PartyEndpoint>;
  log: LogWriter;
  monitors: Monitor[];
  /** Every choice of the run (the delivery order, here) goes through it; default: seeded by `seed`. */
  strategy?: Strategy;
  /** Receives choices a party made in another process, in order (a recording strategy's `note`). */
  noteChoices?: (choices: readonly Choice[]) => void;
  /** Parties whose messages are schema-checked on arrival (plug-ins, other processes). */
  untrusted: ReadonlySet<PartyName>;
  maxSteps: number;
  /**
   * End the run as `stalled` once one exchange (the same request, the same answer) has come round
   * this many times with nothing changing in between (progress.ts; default DEFAULT_STALL_AFTER).
   */
  stallAfter?: number;
  /** The host is an adversary (a plug-in or a corpus attack): a stall by the host says so. */
  adversarialHost?: boolean;
  /** How long an untrusted party may take to answer one delivery before the run ends as hung. */
  answerTimeoutMs?: number;
  /** The same for a party's start (forking, loading the model and any plug-in). */
  startTimeoutMs?: number;
  /**
   * Ends the run early (Ctrl-C in the CLI) with a verdict saying so. Checked between deliveries; an
   * in-process run, which never waits otherwise, yields to the event loop every 512 deliveries so
   * the signal can arrive. Nothing about the log depends on when it yields.
   */
  signal?: AbortSignal;
}

export interface RunResult {
  outcome: Outcome;
  reason: string;
  /**
   * What the run ended as in the guest's and host's own story, whatever the monitors said: the
   * same as outcome and reason unless a monitor reported a violation.
   */
  underlying: Verdict;
  steps: number;
  violations: ViolationLine[];
  stats: Record<string, number>;
}

/** How often (in deliveries) an in-process run with an abort signal lets the event loop run. */
const YIELD_EVERY = 512;

export class Orchestrator {
  private readonly strategy: Strategy;
  private readonly scheduler: Chooser;
  private readonly nextId: () => string;
  private readonly channels = new Channels();
  private readonly open = new Map<string, OpenRequest>();
  private readonly violations: ViolationLine[] = [];
  private readonly stats = new Stats();
  private readonly facts = new RunFacts();
  private readonly supervision: Supervision;
  private readonly progress: Progress;
  /** A party in another process reported that the replayed tape stopped fitting its choices. */
  private remoteDivergence: Divergence | undefined;
  private seq = 0;
  private steps = 0;

  /**
   * Untrusted parties in this process: what they are given and what they send is copied, so
   * nothing they do to a message afterwards can rewrite a logged line (or what the monitors saw).
   */
  private readonly copyFor: ReadonlySet<PartyName>;

  /** Monitors by the line type or effect kind they watch. */
  private readonly watchers = new Map<string, Monitor[]>();
  /** One report callback per monitor, made once rather than per observed line. */
  private readonly reporters = new Map<Monitor, (finding: Finding) => void>();

  constructor(private readonly opts: OrchestratorOptions) {
    for (const monitor of opts.monitors) {
      this.reporters.set(monitor, (finding) => this.report(monitor, finding));
      for (const interest of monitor.interests)
        this.watchers.set(interest, [...(this.watchers.get(interest) ?? []), monitor]);
    }
    this.copyFor = new Set([...opts.untrusted].filter((party) => !opts.parties[party].isolated));
    this.strategy = opts.strategy ?? seededStrategy(opts.seed);
    this.scheduler = this.strategy.chooser("schedule");
    this.nextId = seededIds(streamRng(opts.seed, "ids"));
    this.supervision = new Supervision(opts.answerTimeoutMs, opts.startTimeoutMs);
    this.progress = new Progress(opts.stallAfter);
  }

  private get diverged(): Divergence | undefined {
    return this.strategy.divergence ?? this.remoteDivergence;
  }

  async run(): Promise<RunResult> {
    for (const name of ["trusted", "host", "guest"] as const) {
      const started = await this.supervision.start(this.opts.parties[name]);
      if (started) this.accept(name, started, undefined);
      if (!started || this.supervision.crashed) return this.finish();
    }
    const { signal, maxSteps } = this.opts;
    while (
      this.channels.ready > 0 &&
      this.steps < maxSteps &&
      !this.supervision.failed &&
      !this.diverged &&
      !this.progress.stall &&
      !signal?.aborted
    ) {
      if (signal && this.steps % YIELD_EVERY === YIELD_EVERY - 1) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (signal.aborted) break;
      }
      const next = this.channels.take(
        this.scheduler.choose(this.channels.ready, "deliver", this.channels.nameOf),
      );
      if (this.diverged) break;
      this.steps++;
      this.record(next.env);
      this.progress.delivered(next.env);
      if (next.env.kind === "response") this.open.delete(next.env.re!);
      const party = partyOf(next.env.to);
      // A queued message already has the shape of a delivery: hand it over as it is.
      const inProcessPlugin = this.copyFor.has(party);
      const delivery: Delivery = inProcessPlugin ? structuredClone(next) : next;
      // A plug-in in our own process may never return (a synchronous loop no timer can break):
      // what the log holds so far reaches the file before it runs.
      if (inProcessPlugin) this.opts.log.flush?.();
      let output = this.supervision.deliver(this.opts.parties[party], delivery, this.steps);
      if (output instanceof Promise) output = await output;
      if (output) this.accept(party, output, next.env.id);
    }
    return this.finish();
  }

  /** Log a party's effects, then check and queue its messages. */
  private accept(party: PartyName, output: StepOutput, causedBy: string | undefined): void {
    const untrusted = this.opts.untrusted.has(party);
    if (untrusted && !isStepOutput(output)) {
      this.supervision.crash(party, new Error("answered with something that is not a step output"));
      return;
    }
    for (const effect of output.effects) {
      const problem = effectProblem(party, effect, untrusted);
      if (problem) this.reject(party, problem, effect);
      else this.recordEffect(party, this.copyFor.has(party) ? structuredClone(effect) : effect, causedBy);
    }
    for (const out of output.out) this.enqueue(party, out, causedBy);
    if (output.choices) this.opts.noteChoices?.(output.choices);
    if (output.divergence) this.remoteDivergence ??= output.divergence;
  }

  private reject(party: PartyName, reason: string, raw: unknown): void {
    this.write({ type: "rejected", seq: this.seq++, from: defaultAddress(party), reason, raw });
  }

  private enqueue(party: PartyName, out: OutMsg, causedBy: string | undefined): void {
    const problem = messageProblem(party, out, this.open, this.opts.untrusted.has(party));
    if (problem) {
      this.reject(party, problem, out);
      return;
    }
    const env = {
      type: "msg",
      seq: 0,
      id: this.nextId(),
      from: out.from,
      to: out.to,
      kind: out.kind,
      re: out.re,
      causedBy,
      // Its own copy for a party that shares our heap: the sender cannot change it once sent.
      msg: this.copyFor.has(party) ? structuredClone(out.msg) : out.msg,
    } as Envelope;
    // Absent fields stay undefined (JSON omits them): deleting them would slow every envelope.
    let ref: number | undefined;
    if (out.kind === "request") {
      this.open.set(env.id, { from: out.from, to: out.to, type: out.msg.type, ref: out.ref });
    } else if (out.kind === "response") {
      ref = this.open.get(out.re!)?.ref;
    }
    this.channels.push(out.from as Address, out.to as Address, { env, ref });
  }

  private record(env: Envelope): void {
    env.seq = this.seq++;
    this.stats.count(env);
    this.write(env);
  }

  private recordEffect(party: PartyName, effect: Effect, causedBy: string | undefined): void {
    this.facts.note(party, effect);
    this.progress.effect(effect);
    this.write({ type: "effect", seq: this.seq++, causedBy, effect });
  }

  private write(line: LogLine): void {
    this.opts.log.write(line);
    const watchers = this.watchers.get(line.type === "effect" ? line.effect.e : line.type);
    if (watchers) for (const monitor of watchers) monitor.observe(line, this.reporters.get(monitor)!);
  }

  private report(monitor: Monitor, finding: Finding): void {
    const line: ViolationLine = { type: "violation", seq: this.seq++, monitor: monitor.name, ...finding };
    this.violations.push(line);
    this.opts.log.write(line);
  }

  private finish(): RunResult {
    // End-of-run checks judge a run that ended; a replay cut short by a divergence did not.
    if (!this.diverged)
      for (const monitor of this.opts.monitors) monitor.finish?.(this.reporters.get(monitor)!);
    const ending: Ending = {
      facts: this.facts,
      supervision: this.supervision,
      interrupted: this.opts.signal?.aborted ? String(this.opts.signal.reason ?? "aborted") : undefined,
      diverged: this.diverged,
      stalled: this.progress.stall && describeStall(this.progress.stall, this.opts.adversarialHost === true),
      steps: this.steps,
      maxSteps: this.opts.maxSteps,
      queued: this.channels.ready,
      open: [...this.open.values()],
      adversarialHost: this.opts.adversarialHost === true,
    };
    const { outcome, reason } = verdict(this.violations, ending);
    const underlying = this.violations.length > 0 ? ownEnding(ending) : { outcome, reason };
    const stats = this.stats.snapshot(this.steps);
    const line: VerdictLine = {
      type: "verdict",
      seq: this.seq++,
      outcome,
      reason,
      // Beside a violation, the run's own ending (completed, the host threw, stalled...): hidden by none.
      ...(this.violations.length > 0
        ? { ending: { outcome: underlying.outcome, reason: underlying.reason } }
        : {}),
      steps: this.steps,
      violations: this.violations.length,
      stats,
    };
    this.opts.log.write(line);
    this.opts.log.close();
    return { outcome, reason, underlying, steps: this.steps, violations: this.violations, stats };
  }
}
