// The orchestrator owns a run: it routes every message, stamps `from` by connection, assigns
// ids and seqs, picks the delivery order with a seeded scheduler, writes the log, and feeds the
// monitors before anything is delivered. Nothing passes between parties any other way.
import {
  type Address,
  type Effect,
  Effect as EffectSchema,
  type Envelope,
  type PartyName,
  partyOf,
  schemaFor,
} from "../../protocol/index.ts";
import type { LogLine, Outcome, VerdictLine, ViolationLine } from "../../protocol/log.ts";
import { routeProblem } from "../../protocol/routes.ts";
import type { Delivery, OutMsg, PartyEndpoint, StepOutput } from "../kit/party.ts";
import { Rng, seededIds } from "../kit/rng.ts";
import type { Finding, Monitor } from "../monitors/monitor.ts";
import type { LogWriter } from "./log-writer.ts";

export interface OrchestratorOptions {
  seed: number;
  parties: Record<PartyName, PartyEndpoint>;
  log: LogWriter;
  monitors: Monitor[];
  /** Parties whose messages are schema-checked on arrival (plug-ins, other processes). */
  untrusted: ReadonlySet<PartyName>;
  maxSteps: number;
  /**
   * How long an untrusted party may take to answer one delivery before the run ends as hung.
   * Wall-clock time guards the harness only: it never changes what the log says up to the hang.
   */
  answerTimeoutMs?: number;
  /**
   * The same for a party's start, which under the process transport includes forking the process,
   * loading the model and any plug-in: longer, so a loaded machine is not mistaken for a hang.
   */
  startTimeoutMs?: number;
  /**
   * Ends the run early (Ctrl-C in the CLI) with a verdict saying so. Checked between deliveries; an
   * in-process run, which never waits otherwise, yields to the event loop every 512 deliveries so
   * the signal can arrive. Nothing about the log depends on when it yields.
   */
  signal?: AbortSignal;
}

interface Pending {
  env: Envelope;
  ref: number | undefined;
}

/** Messages from one address to another, delivered in order (FIFO per channel, like a link). */
interface Channel {
  readonly queue: Pending[];
  head: number;
  /** Position in `active`, or -1 when empty. */
  slot: number;
}

interface OpenRequest {
  from: Address;
  to: Address;
  type: string;
  ref: number | undefined;
}

/** Facts the verdict is derived from, gathered from effects as they are logged. */
interface RunFacts {
  guestTerminated?: string;
  vmKilled?: string;
  workloadComplete: boolean;
  tornDown: boolean;
  crashed?: { party: PartyName; error: string };
  interrupted?: string;
  /** `step` 0: the party never answered its start. */
  hung?: { party: PartyName; step: number; ms: number };
}

export interface RunResult {
  outcome: Outcome;
  reason: string;
  /** What the run would have ended as if no monitor had spoken (the guest's and host's own story). */
  underlying: { outcome: Outcome; reason: string };
  steps: number;
  violations: ViolationLine[];
  stats: Record<string, number>;
}

/** The shape every answer must have; what is inside is checked message by message, effect by effect. */
function isStepOutput(output: unknown): output is StepOutput {
  const o = output as StepOutput | null;
  return typeof o === "object" && o !== null && Array.isArray(o.out) && Array.isArray(o.effects);
}

const DEFAULT_ANSWER_TIMEOUT_MS = 5000;
/** How often (in deliveries) an in-process run with an abort signal lets the event loop run. */
const YIELD_EVERY = 512;
const DEFAULT_START_TIMEOUT_MS = 30_000;

export class Orchestrator {
  private readonly schedule: Rng;
  private readonly nextId: () => string;
  /** Channels by sender, then recipient. */
  private readonly channels = new Map<string, Map<string, Channel>>();
  /** Non-empty channels; the scheduler picks among them. */
  private readonly active: Channel[] = [];
  private readonly open = new Map<string, OpenRequest>();
  private readonly violations: ViolationLine[] = [];
  /** Requests and events delivered, by message type (responses are implied by requests). */
  private readonly counts = new Map<string, number>();
  private readonly facts: RunFacts = { workloadComplete: false, tornDown: false };
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
    const root = new Rng(opts.seed);
    this.schedule = root.fork(1);
    this.nextId = seededIds(root.fork(2));
  }

  async run(): Promise<RunResult> {
    for (const name of ["trusted", "host", "guest"] as const) {
      const started = await this.start(name);
      if (started) this.accept(name, started, undefined);
      if (!started || this.facts.crashed) return this.finish();
    }
    while (
      this.active.length > 0 &&
      this.steps < this.opts.maxSteps &&
      !this.facts.crashed &&
      !this.facts.hung &&
      !this.opts.signal?.aborted
    ) {
      if (this.opts.signal && this.steps % YIELD_EVERY === YIELD_EVERY - 1) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.opts.signal.aborted) break;
      }
      const next = this.pickNext();
      this.steps++;
      this.record(next.env);
      if (next.env.kind === "response") this.open.delete(next.env.re!);
      const party = partyOf(next.env.to);
      // A queued message already has the shape of a delivery: hand it over as it is.
      const delivery: Delivery = this.copyFor.has(party) ? structuredClone(next) : next;
      // In-process parties answer synchronously: only a real promise (another process) is awaited,
      // so the common path costs no microtask per message.
      let output = this.callSync(party, delivery);
      if (output instanceof Promise) output = await this.settle(party, output);
      if (output) this.accept(party, output, next.env.id);
    }
    if (this.opts.signal?.aborted) this.facts.interrupted = String(this.opts.signal.reason ?? "aborted");
    return this.finish();
  }

  private callSync(party: PartyName, delivery: Delivery): StepOutput | Promise<StepOutput> | undefined {
    try {
      return this.opts.parties[party].deliver(delivery);
    } catch (error) {
      this.crash(party, error);
      return undefined;
    }
  }

  private async start(party: PartyName): Promise<StepOutput | undefined> {
    let output: StepOutput | Promise<StepOutput>;
    try {
      output = this.opts.parties[party].start();
    } catch (error) {
      this.crash(party, error);
      return undefined;
    }
    if (!(output instanceof Promise)) return output;
    return this.settle(party, output, this.opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
  }

  private async settle(
    party: PartyName,
    pending: Promise<StepOutput>,
    ms = this.opts.answerTimeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS,
  ): Promise<StepOutput | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<"hung">((resolve) => {
      timer = setTimeout(() => resolve("hung"), ms);
    });
    try {
      const answer = await Promise.race([pending, hang]);
      if (answer === "hung") {
        this.facts.hung = { party, step: this.steps, ms };
        return undefined;
      }
      return answer;
    } catch (error) {
      this.crash(party, error);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  private crash(party: PartyName, error: unknown): void {
    this.facts.crashed = { party, error: error instanceof Error ? error.message : String(error) };
  }

  private pickNext(): Pending {
    const index = this.active.length === 1 ? 0 : this.schedule.int(this.active.length);
    const channel = this.active[index]!;
    const next = channel.queue[channel.head]!;
    channel.head++;
    if (channel.head === channel.queue.length) {
      channel.queue.length = 0;
      channel.head = 0;
      // Swap-remove keeps picking O(1); the order stays a pure function of the seed.
      const last = this.active.pop()!;
      if (last !== channel) {
        this.active[index] = last;
        last.slot = index;
      }
      channel.slot = -1;
    }
    return next;
  }

  /** Log a party's effects, then check and queue its messages. */
  private accept(party: PartyName, output: StepOutput, causedBy: string | undefined): void {
    if (this.opts.untrusted.has(party) && !isStepOutput(output)) {
      this.crash(party, new Error("answered with something that is not a step output"));
      return;
    }
    for (const effect of output.effects) {
      const problem = this.effectProblem(party, effect);
      if (problem) this.reject(party, problem, effect);
      else this.recordEffect(party, this.copyFor.has(party) ? structuredClone(effect) : effect, causedBy);
    }
    for (const out of output.out) this.enqueue(party, out, causedBy);
  }

  private reject(party: PartyName, reason: string, raw: unknown): void {
    this.write({ type: "rejected", seq: this.seq++, from: this.defaultAddress(party), reason, raw });
  }

  /**
   * Why an effect must not be logged, or undefined. Only the trusted side speaks for the hardware
   * (it logs a host's load as `by: host/kvm`); the guest and the host may log only what they did.
   */
  private effectProblem(party: PartyName, effect: Effect): string | undefined {
    if (party !== "trusted" && (typeof effect?.by !== "string" || partyOf(effect.by) !== party)) {
      return `forged effect by ${String(effect?.by)}: ${party} may only log what it did itself`;
    }
    if (this.opts.untrusted.has(party)) {
      const parsed = EffectSchema.safeParse(effect);
      if (!parsed.success)
        return `malformed effect ${String(effect?.e)}: ${parsed.error.issues[0]?.message ?? "invalid"}`;
    }
    return undefined;
  }

  private enqueue(party: PartyName, out: OutMsg, causedBy: string | undefined): void {
    const problem = this.check(party, out);
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
    let byTo = this.channels.get(out.from);
    if (!byTo) {
      byTo = new Map();
      this.channels.set(out.from, byTo);
    }
    let channel = byTo.get(out.to);
    if (!channel) {
      channel = { queue: [], head: 0, slot: -1 };
      byTo.set(out.to, channel);
    }
    channel.queue.push({ env, ref });
    if (channel.slot === -1) {
      channel.slot = this.active.length;
      this.active.push(channel);
    }
  }

  /** Why a message must not be delivered, or undefined if it may go. */
  private check(party: PartyName, out: OutMsg): string | undefined {
    if (typeof out !== "object" || out === null) return "malformed message: not an object";
    if (typeof out.from !== "string" || partyOf(out.from) !== party) {
      return `forged sender ${String(out.from)}: ${party} may only send from its own addresses`;
    }
    if (out.kind === "request") {
      const wrongRoute = routeProblem(String(out.msg?.type), out.from, out.to);
      if (wrongRoute) return wrongRoute;
    }
    if (out.kind === "response") {
      const open = out.re === undefined ? undefined : this.open.get(out.re);
      if (!open || open.to !== out.from || open.from !== out.to || open.type !== out.msg?.type) {
        return `response ${String(out.msg?.type)} answers no open request from ${out.to}`;
      }
    }
    if (this.opts.untrusted.has(party)) {
      const schema = schemaFor(out.kind, String(out.msg?.type));
      if (!schema) return `unknown ${out.kind} ${String(out.msg?.type)}`;
      const parsed = schema.safeParse(out.msg);
      if (!parsed.success)
        return `malformed ${out.msg.type}: ${parsed.error.issues[0]?.message ?? "invalid"}`;
    }
    return undefined;
  }

  private defaultAddress(party: PartyName): Address {
    return party === "guest" ? "guest/kernel" : party === "host" ? "host/kvm" : "fw";
  }

  private record(env: Envelope): void {
    env.seq = this.seq++;
    if (env.kind !== "response") {
      const type = env.msg.type;
      this.counts.set(type, (this.counts.get(type) ?? 0) + 1);
    } else if ("exit" in env.msg && env.msg.exit) {
      // Exits (TD exits, KVM exits) are the unit of host work: count them by reason.
      const exit = env.msg.exit as { reason?: string; exit_reason?: string };
      const key = `exit:${exit.reason ?? exit.exit_reason}`;
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    }
    this.write(env);
  }

  private recordEffect(party: PartyName, effect: Effect, causedBy: string | undefined): void {
    this.noteFacts(party, effect);
    const line = {
      type: "effect",
      seq: this.seq++,
      causedBy,
      effect,
    } as const;
    this.write(line);
  }

  private noteFacts(party: PartyName, effect: Effect): void {
    if (effect.e === "terminated" && party === "guest") this.facts.guestTerminated ??= effect.reason;
    if (effect.e !== "lifecycle") return;
    if (party === "guest" && effect.state === "workload-complete") this.facts.workloadComplete = true;
    if (party === "host" && effect.state === "vm-killed") this.facts.vmKilled ??= effect.detail ?? "killed";
    if (party === "host" && effect.state === "torn-down") this.facts.tornDown = true;
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

  private get stats(): Record<string, number> {
    const stats: Record<string, number> = { steps: this.steps };
    for (const [type, count] of [...this.counts].sort((a, b) => a[0].localeCompare(b[0])))
      stats[type] = count;
    return stats;
  }

  private finish(): RunResult {
    for (const monitor of this.opts.monitors) monitor.finish?.(this.reporters.get(monitor)!);
    const { outcome, reason } = this.verdict();
    const underlying = this.violations.length > 0 ? this.verdictWithoutViolations() : { outcome, reason };
    const stats = this.stats;
    const verdict: VerdictLine = {
      type: "verdict",
      seq: this.seq++,
      outcome,
      reason,
      steps: this.steps,
      violations: this.violations.length,
      stats,
    };
    this.opts.log.write(verdict);
    this.opts.log.close();
    return { outcome, reason, underlying, steps: this.steps, violations: this.violations, stats };
  }

  private verdict(): { outcome: Outcome; reason: string } {
    if (this.violations.length > 0) {
      const first = this.violations[0]!;
      return { outcome: "violation", reason: `${first.invariant} (${first.responsible}): ${first.detail}` };
    }
    return this.verdictWithoutViolations();
  }

  private verdictWithoutViolations(): { outcome: Outcome; reason: string } {
    const f = this.facts;
    if (f.interrupted) {
      return { outcome: "error", reason: `interrupted (${f.interrupted}) after ${this.steps} deliveries` };
    }
    if (f.hung) {
      return {
        outcome: f.hung.party === "host" ? "host-hung" : "error",
        reason: `${f.hung.party} hung: no answer to ${f.hung.step === 0 ? "its start" : `delivery ${f.hung.step}`} within ${f.hung.ms} ms`,
      };
    }
    if (f.crashed) {
      return f.crashed.party === "host"
        ? { outcome: "host-crashed", reason: `host threw: ${f.crashed.error}` }
        : { outcome: "error", reason: `${f.crashed.party} threw: ${f.crashed.error}` };
    }
    if (f.guestTerminated) return { outcome: "guest-terminated", reason: f.guestTerminated };
    if (f.vmKilled) return { outcome: "vm-killed-by-host", reason: f.vmKilled };
    if (this.steps >= this.opts.maxSteps && this.active.length > 0) {
      return { outcome: "error", reason: `step limit ${this.opts.maxSteps} reached (livelock?)` };
    }
    if (f.workloadComplete && f.tornDown)
      return { outcome: "completed", reason: "workload complete, VM torn down" };
    // Quiet with the guest still waiting: the host withheld service (never answered, or never ran
    // the vCPU again so its instruction could complete). Allowed, and not a model bug.
    const open = [...this.open.values()];
    const waitingOnHost = open.filter((r) => partyOf(r.to) === "host");
    const guestWaiting = open.filter((r) => partyOf(r.from) === "guest");
    if (waitingOnHost.length > 0 || guestWaiting.length > 0) {
      const what = guestWaiting[0] ?? waitingOnHost[0]!;
      return {
        outcome: "stalled",
        reason: `${what.from} still waits for ${what.type}: the host withheld service`,
      };
    }
    const openTypes = [...new Set([...this.open.values()].map((r) => `${r.type}->${r.to}`))].join(", ");
    return {
      outcome: "deadlock",
      reason: `quiescent with the workload unfinished; open: ${openTypes || "none"}`,
    };
  }
}
