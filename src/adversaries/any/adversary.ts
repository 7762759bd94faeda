// The generic adversary (`--adversary any`): a host that keeps the honest KVM and VMM and, at each
// of its steps, may do anything the protocol lets a host do, every decision through the run's
// choices: inject any request of the vocabulary with arguments from the domain, withhold, delay or
// alter its own requests (an exit answered differently is an altered TDH.VP.ENTER), and flip the
// flags it chooses when it builds the VM (TD attributes such as SEPT_VE_DISABLE). Choice 0 is
// always the honest host's behaviour, so a tape of zeros is the honest run and shrinking a tape
// toward zeros removes host actions. It knows nothing about any attack.
import type { Platform, Request } from "../../../protocol/index.ts";
import type { OutMsg } from "../../kit/party.ts";
import {
  type Adversary,
  type AttackContext,
  type Choices,
  defineAdversary,
  type SendDecision,
} from "../api.ts";
import { HostDomain } from "./domain.ts";
import { FULL_MIX, type Mix } from "./mix.ts";
import { type Action, alterableFields, type Field, hostActions, VMCALL_FIELDS } from "./vocabulary.ts";

/** A bound on injected requests per run: a search wants many short runs, not one endless one. */
const MAX_INJECTED = 32;
const DELAYS = [1, 2, 4, 8];
/** Requests that start a vCPU: once the host sends one, the VM is built. */
const RUNS_VCPU = new Set(["TDH.VP.ENTER", "__kvm_vcpu_run", "KVM_RUN"]);

/**
 * The choices that decide whether the host departs from the honest path (their labels begin with
 * the kind); every other choice of the adversary picks an argument of a departure already made.
 */
export const DECISIONS = ["act", "send", "build"] as const;
type DecisionKind = (typeof DECISIONS)[number];
export const decisionOf = (label: string): DecisionKind | undefined =>
  DECISIONS.find((kind) => label === kind || label.startsWith(`${kind} `));

/** One thing the adversary did, for the story of a finding. */
export interface HostAction {
  /** Deliveries to the host before it acted (0: at the start). */
  readonly delivery: number;
  readonly what: "inject" | "withhold" | "delay" | "alter" | "build";
  /** The request it sent (injected, altered or built), or the one it withheld or delayed. */
  readonly request: Request;
  /** Alter and build: the field changed; delay: by how many deliveries. */
  readonly detail?: string;
}

export interface AnyOptions {
  readonly mix?: Mix;
  /** Receives every action, in order (the explorer tells a finding's story from it). */
  readonly journal?: HostAction[];
}

export function anyAdversary(platform: Platform, options: AnyOptions = {}): Adversary {
  const mix = options.mix ?? FULL_MIX;
  const journal = options.journal ?? [];
  const domain = new HostDomain(platform);
  const vocabulary = hostActions(platform).filter((a) => mix.inject === "all" || mix.inject.includes(a.type));
  let building = true;
  let injected = 0;
  /** The last delivery was the answer to one of its own requests (no step of the host's own). */
  let ownAnswer = false;

  const pick = <T>(ctx: Choices, values: readonly T[], label: string): T =>
    values[ctx.choose(values.length, label)]!;

  /** Choose a value for each field, in order; undefined if some field has nothing to offer now. */
  const fill = (
    ctx: Choices,
    type: string,
    fields: readonly Field[],
  ): Record<string, unknown> | undefined => {
    const chosen: Record<string, unknown> = {};
    for (const field of fields) {
      const values = field.values(domain, chosen);
      if (values.length === 0) {
        if (field.name === "content") continue;
        return undefined;
      }
      chosen[field.name] = pick(ctx, values, `arg ${type}.${field.name}`);
    }
    return chosen;
  };

  const ready = (action: Action): boolean =>
    action.fields.every((f) => f.name === "content" || f.values(domain, {}).length > 0);

  const act = (ctx: AttackContext): void => {
    // It decides at the honest host's steps only: the answers to its own requests add none, so
    // dropping one of its actions (shrinking) leaves its other decisions where they were.
    if (ownAnswer) {
      ownAnswer = false;
      return;
    }
    if (injected >= MAX_INJECTED) return;
    // First the boundary, then a call on it: a boundary with few calls (the VMM's ioctls) is not
    // drowned by one with many (SEAMCALLs).
    const available = vocabulary.filter(ready);
    const boundaries = [...new Set(available.map((a) => a.boundary))];
    const choice = ctx.choose(boundaries.length + 1, "act");
    if (choice === 0) return;
    const boundary = boundaries[choice - 1]!;
    const action = pick(
      ctx,
      available.filter((a) => a.boundary === boundary),
      `call ${boundary}`,
    );
    const values = fill(ctx, action.type, action.fields);
    if (!values) return;
    const request = { type: action.type, ...values } as Request;
    const from = pick(ctx, action.from, `from ${action.type}`);
    injected++;
    journal.push({ delivery: ctx.step, what: "inject", request });
    ctx.request(
      action.to,
      request,
      (response) => {
        ownAnswer = true;
        domain.learn(response);
      },
      from,
    );
  };

  /** Build-time flags: each boolean of a request sent while building, kept (0) or flipped (1). */
  const built = (ctx: AttackContext, msg: Request): Request => {
    let out = msg;
    for (const [name, value] of Object.entries(msg)) {
      if (typeof value !== "boolean" || ctx.choose(2, `build ${msg.type}.${name}`) === 0) continue;
      out = { ...out, [name]: !value } as Request;
      journal.push({ delivery: ctx.step, what: "build", request: out, detail: `${name}=${!value}` });
    }
    return out;
  };

  const altered = (ctx: AttackContext, msg: Request): Request | undefined => {
    const vmcall = (msg as { vmcall?: Record<string, unknown> }).vmcall;
    const now = msg as unknown as Record<string, unknown>;
    // Values other than the one the message has: an alteration that changes nothing is no action.
    const others = (f: Field, nested: boolean) =>
      f.values(domain, now).filter((v) => v !== (nested ? vmcall?.[f.name] : now[f.name]));
    const targets = [
      ...alterableFields(msg.type).map((f) => ({ f, nested: false })),
      ...(vmcall ? VMCALL_FIELDS.map((f) => ({ f, nested: true })) : []),
    ].filter(({ f, nested }) => others(f, nested).length > 0);
    if (targets.length === 0) return undefined;
    const { f, nested } = pick(ctx, targets, `alter ${msg.type}`);
    const value = pick(ctx, others(f, nested), `alter ${msg.type}.${f.name}`);
    const out = nested ? { ...msg, vmcall: { ...vmcall, [f.name]: value } } : { ...msg, [f.name]: value };
    journal.push({
      delivery: ctx.step,
      what: "alter",
      request: out as Request,
      detail: `${nested ? "vmcall." : ""}${f.name}=${typeof value === "number" ? `0x${value.toString(16)}` : String(value)}`,
    });
    return out as Request;
  };

  const onSend = (out: OutMsg, ctx: AttackContext): SendDecision => {
    domain.learn(out.msg);
    if (out.kind !== "request") return "keep";
    let msg = out.msg as Request;
    if (building && RUNS_VCPU.has(msg.type)) building = false;
    if (building && mix.build) msg = built(ctx, msg);
    const kinds = mix.send;
    const decision = kinds.length === 0 ? 0 : ctx.choose(kinds.length + 1, `send ${msg.type}`);
    const kind = decision === 0 ? "keep" : kinds[decision - 1]!;
    if (kind === "withhold") {
      journal.push({ delivery: ctx.step, what: "withhold", request: msg });
      return "drop";
    }
    if (kind === "delay") {
      const delay = pick(ctx, DELAYS, `delay ${msg.type}`);
      journal.push({ delivery: ctx.step, what: "delay", request: msg, detail: `${delay} deliveries` });
      return { delay };
    }
    if (kind === "alter") msg = altered(ctx, msg) ?? msg;
    return msg === out.msg ? "keep" : { replace: { ...out, msg } };
  };

  return defineAdversary({
    name: "any",
    description:
      "the generic adversary: any host request, withheld, delayed or altered messages, build flags",
    wrap: {
      onSend,
      onReceive(env) {
        domain.learn(env.msg);
        return "keep";
      },
      tick: act,
    },
  });
}
