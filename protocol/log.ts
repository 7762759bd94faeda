// The JSONL run log: a header, then one delivered message or effect per line, then violations as
// they are found, then the verdict. Every line parses on its own, so a log cut short stays valid.
import { z } from "zod";
import { Addr, Address, EffectLine, Envelope } from "./index.ts";
import { ProfileName } from "./profiles.ts";

/**
 * The log format's version. 2 (cocomem 0.5): effects typed (zero reasons, fault kinds, lifecycle
 * states, S-EPT and pKVM page states as enums; pKVM stage-2 changes as their own `stage2` effect;
 * owner effects with `pageType` on TDX and `guestState` on pKVM); no `event` message kind.
 */
export const LOG_FORMAT_VERSION = 2;

export const HeaderLine = z.strictObject({
  type: z.literal("header"),
  format: z.literal(LOG_FORMAT_VERSION),
  cocomem: z.string(),
  scenario: z.string(),
  platform: z.string(),
  seed: z.number().int(),
  /** The versions of the real systems the run followed (protocol/profiles.ts). */
  profile: ProfileName,
  transport: z.string(),
  options: z.record(z.string(), z.unknown()),
});
export type HeaderLine = z.infer<typeof HeaderLine>;

/** A monitor's finding: which invariant broke, who failed its duty, and the evidence. */
export const ViolationLine = z.strictObject({
  type: z.literal("violation"),
  seq: z.number().int().nonnegative(),
  monitor: z.string(),
  invariant: z.string(),
  responsible: z.enum(["guest", "host", "fw", "hw"]),
  gpa: Addr.optional(),
  hpa: Addr.optional(),
  evidence: z.array(z.number().int()),
  detail: z.string(),
});
export type ViolationLine = z.infer<typeof ViolationLine>;

/** A message the orchestrator refused (malformed, forged, unknown): never delivered. */
export const RejectedLine = z.strictObject({
  type: z.literal("rejected"),
  seq: z.number().int().nonnegative(),
  from: Address,
  reason: z.string(),
  raw: z.unknown(),
});
export type RejectedLine = z.infer<typeof RejectedLine>;

/**
 * How a run ended. `stalled`: the host withheld service, or a party kept sending the same request
 * after the same answer with nothing changing (no progress); `step-limit`: the run was still going
 * when it reached its step limit; `deadlock`: quiet with the workload unfinished and nobody to
 * blame but the model.
 */
export const Outcome = z.enum([
  "completed",
  "guest-terminated",
  "vm-killed-by-host",
  "stalled",
  "violation",
  "deadlock",
  "host-crashed",
  "host-hung",
  "step-limit",
  "error",
]);
export type Outcome = z.infer<typeof Outcome>;

/** The run's own ending, whatever the monitors said. */
export const OwnEnding = z.strictObject({ outcome: Outcome, reason: z.string() });
export type OwnEnding = z.infer<typeof OwnEnding>;

export const VerdictLine = z.strictObject({
  type: z.literal("verdict"),
  seq: z.number().int().nonnegative(),
  outcome: Outcome,
  reason: z.string(),
  /** With a violation: how the run itself ended (completed, the host threw, stalled...). */
  ending: OwnEnding.optional(),
  steps: z.number().int().nonnegative(),
  violations: z.number().int().nonnegative(),
  stats: z.record(z.string(), z.number()),
});
export type VerdictLine = z.infer<typeof VerdictLine>;

export const LogLine = z.discriminatedUnion("type", [
  HeaderLine,
  Envelope,
  EffectLine,
  ViolationLine,
  RejectedLine,
  VerdictLine,
]);
export type LogLine = HeaderLine | Envelope | EffectLine | ViolationLine | RejectedLine | VerdictLine;
