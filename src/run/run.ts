// Running a scenario: build the three parties for its platform, hand them to the orchestrator
// with the standard monitors, and compare the verdict with what the scenario expects.

import { resolve } from "node:path";
import { createGuestParty } from "../../actors/guest/machine.ts";
import { createHonestHost } from "../../actors/host/machine.ts";
import { createPkvmTrustedParty } from "../../actors/trusted/pkvm/machine.ts";
import { createTdxTrustedParty } from "../../actors/trusted/tdx/machine.ts";
import { PARTIES, type PartyName } from "../../protocol/index.ts";
import type { LogLine, Outcome } from "../../protocol/log.ts";
import { LOG_FORMAT_VERSION } from "../../protocol/log.ts";
import type { Adversary, Platform } from "../adversaries/api.ts";
import { findAttack } from "../adversaries/corpus.ts";
import { loadAdversary } from "../adversaries/load.ts";
import { WrappedHost } from "../adversaries/wrap.ts";
import type { PartyEndpoint } from "../kit/party.ts";
import { standardMonitors } from "../monitors/index.ts";
import { FileLog, type LogWriter, MemoryLog, TeeLog } from "../runtime/log-writer.ts";
import { Orchestrator, type RunResult } from "../runtime/orchestrator.ts";
import type { Scenario, ScenarioSpec } from "../scenarios/spec.ts";
import { ProcessParty } from "../transport/process-party.ts";
import { COCOMEM_VERSION } from "./version.ts";

export interface RunOptions {
  seed?: number;
  /** Override the scenario's guest policy. */
  guestPolicy?: "linux" | "naive";
  /** Also write the log to this JSONL file, line by line. */
  logFile?: string;
  /** Keep the log in memory (default true; benchmarks turn it off). */
  keepLog?: boolean;
  maxSteps?: number;
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
  /** `inproc` (default): all parties in this process. `process`: each party in its own process. */
  transport?: "inproc" | "process";
  /** A host plug-in by file (either transport): the `process` transport loads it in the host's process only. */
  hostPlugin?: string;
  /** An attack of the built-in corpus by id (A1-A13) as the host; `process` builds it in the host's process. */
  attack?: string;
}

export interface RunReport {
  scenario: string;
  seed: number;
  policy: "linux" | "naive";
  transport: "inproc" | "process";
  result: RunResult;
  /** The log lines, when kept in memory. */
  log: LogLine[];
  /** Expectations the run did not meet (empty: as expected). */
  unmet: string[];
}

export const DEFAULT_SEED = 1;
const DEFAULT_MAX_STEPS = 20_000_000;

/** Host RAM the pKVM hypervisor treats as memory (the host allocator's pools lie below it). */
const PKVM_HOST_RAM = 4 * 2 ** 40;

/** Deliberately broken trusted entities, to show what the monitors say when the TE fails its duty. */
export interface TrustedMutant {
  /** TDX: TDG.MEM.PAGE.ACCEPT maps without zeroing. pKVM: no hyp_poison_page on reclaim. */
  skipZeroing?: boolean;
}

export function buildParties(
  spec: ScenarioSpec,
  mutant: TrustedMutant = {},
): Record<PartyName, PartyEndpoint> {
  const { guest, host, platform } = spec;
  return {
    trusted:
      platform === "tdx"
        ? createTdxTrustedParty({
            hostReadMachineChecks: host.hostReadMachineChecks,
            mutant: { acceptWithoutZeroing: mutant.skipZeroing === true },
          })
        : createPkvmTrustedParty({
            ramBytes: PKVM_HOST_RAM,
            mutant: { skipPoison: mutant.skipZeroing === true },
          }),
    host: createHonestHost({
      platform,
      variant: host.variant,
      memory: guest.memory,
      vcpus: guest.vcpus,
      septVeDisable: host.septVeDisable,
      image: guest.image,
      onPost: host.onPost,
      privateLevel: host.privateLevel === "2M" ? 1 : 0,
    }),
    guest: createGuestParty({ platform, policy: guest.policy, workload: guest.workload }),
  };
}

export async function runScenario(scenario: Scenario, options: RunOptions = {}): Promise<RunReport> {
  const seed = options.seed ?? DEFAULT_SEED;
  const transport = options.transport ?? "inproc";
  const host = await hostAdversary(options, transport, scenario.spec.platform);
  const policy = options.guestPolicy ?? scenario.spec.guest.policy;
  const spec: ScenarioSpec = { ...scenario.spec, guest: { ...scenario.spec.guest, policy } };
  const memory = new MemoryLog();
  const writers: LogWriter[] = [];
  if (options.keepLog !== false) writers.push(memory);
  if (options.logFile) writers.push(new FileLog(options.logFile));
  const log = new TeeLog(writers);
  log.write({
    type: "header",
    format: LOG_FORMAT_VERSION,
    cocomem: COCOMEM_VERSION,
    scenario: spec.name,
    platform: spec.platform,
    seed,
    transport,
    options: {
      guestPolicy: policy,
      ...(host.name ? { host: host.name } : {}),
      ...(options.hostPlugin ? { hostPlugin: options.hostPlugin } : {}),
      ...(options.mutant ? { mutant: options.mutant } : {}),
    },
  });
  const parties =
    transport === "process" ? processParties(spec, options) : buildParties(spec, options.mutant);
  if (host.here) parties.host = adversaryHost(host.here, spec, parties.host);
  const hostIsAdversary = host.name !== undefined;
  const orchestrator = new Orchestrator({
    seed,
    parties,
    log,
    monitors: standardMonitors(spec.platform),
    // Another process's messages are checked on arrival; so are a plug-in host's.
    untrusted: new Set<PartyName>(transport === "process" ? PARTIES : hostIsAdversary ? ["host"] : []),
    maxSteps: options.maxSteps ?? DEFAULT_MAX_STEPS,
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
    policy,
    transport,
    result,
    log: memory.lines,
    unmet: [],
  };
  report.unmet = host.name
    ? defencesHeld(host.name, report)
    : await expectationsUnmet(scenario, spec, report);
  return report;
}

/**
 * The adversarial host, if any: its name, and the object to run here (in process). A plug-in object
 * cannot cross into another process, so the process transport takes plug-ins by file or by corpus
 * id only, and its host process builds them.
 */
async function hostAdversary(
  options: RunOptions,
  transport: "inproc" | "process",
  platform: Platform,
): Promise<{ name?: string; here?: Adversary }> {
  const given = [options.adversary, options.hostPlugin, options.attack].filter((x) => x !== undefined);
  if (given.length > 1) throw new Error("give one of `adversary`, `hostPlugin` or `attack`");
  if (options.attack !== undefined) {
    const adversary = findAttack(options.attack).adversary(platform);
    return transport === "inproc" ? { name: adversary.name, here: adversary } : { name: adversary.name };
  }
  if (transport === "process") {
    if (options.adversary) {
      throw new Error(
        "an adversary object cannot cross into the host's process: give its file as `hostPlugin`",
      );
    }
    return options.hostPlugin ? { name: options.hostPlugin } : {};
  }
  if (options.adversary) return { name: options.adversary.name, here: options.adversary };
  if (!options.hostPlugin) return {};
  const loaded = await loadAdversary(options.hostPlugin);
  if (!loaded.ok) throw new Error(loaded.error);
  return { name: loaded.adversary.name, here: loaded.adversary };
}

/** Each party in its own child process, built there from the same spec. */
function processParties(spec: ScenarioSpec, options: RunOptions): Record<PartyName, PartyEndpoint> {
  const make = (party: PartyName) =>
    new ProcessParty(party, {
      type: "init",
      party,
      spec,
      ...(options.mutant ? { mutant: options.mutant } : {}),
      ...(party === "host" && options.hostPlugin ? { hostPlugin: resolve(options.hostPlugin) } : {}),
      ...(party === "host" && options.attack ? { attack: options.attack } : {}),
    });
  return { trusted: make("trusted"), host: make("host"), guest: make("guest") };
}

/** The host party an adversary puts in place of the honest one. */
export function adversaryHost(
  adversary: Adversary,
  spec: ScenarioSpec,
  honest: PartyEndpoint,
): PartyEndpoint {
  if (adversary.replace) return adversary.replace({ platform: spec.platform, spec });
  return new WrappedHost(honest, adversary.wrap!, spec.platform);
}

/**
 * Under an adversarial host the expectation is that the defences hold: no violation. Refusing
 * service (a stall, a killed VM) is allowed; the guest stopping itself is a detection.
 */
function defencesHeld(plugin: string, report: RunReport): string[] {
  const v = report.result.violations[0];
  return v ? [`host "${plugin}" caused a violation: ${v.invariant} (${v.responsible} responsible)`] : [];
}

/** The expectations of the scenario that this run did not meet. */
async function expectationsUnmet(
  scenario: Scenario,
  spec: ScenarioSpec,
  report: RunReport,
): Promise<string[]> {
  const own = scenario.spec.guest.policy === report.policy;
  const expectation = own ? spec.expect : spec.expectWithPolicy[report.policy];
  if (!expectation) return [`no expectation for guest policy ${report.policy}`];
  const unmet: string[] = [];
  const expected: Outcome = expectation.outcome;
  if (report.result.outcome !== expected) {
    unmet.push(`outcome ${report.result.outcome} (${report.result.reason}), expected ${expected}`);
  }
  const found = new Set(report.result.violations.map((v) => v.invariant));
  for (const invariant of expectation.violations) {
    if (!found.has(invariant)) unmet.push(`expected violation "${invariant}" was not reported`);
  }
  if (own && scenario.check) unmet.push(...(await scenario.check(report)));
  return unmet;
}
