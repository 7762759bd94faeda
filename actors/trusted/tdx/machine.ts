// The trusted side on TDX (TDX module + CPU) as one XState actor. The machine's states are the
// TD's op state and teardown lifecycle; a SEAMCALL a state does not list is refused with the
// status the module gives for it there. Guest instructions and hardware requests are handled in
// every state. Per-page state lives in tables (module.ts), not in the machine.

import { enqueueActions, setup } from "xstate";
import type { CallName, Envelope, Request, RequestEnvelope, U64 } from "../../../protocol/index.ts";
import { isTdxSuccess, type TdxStatusName, tdxStatus } from "../../../protocol/status.ts";
import { FrameStore } from "../../../src/hardware/frames.ts";
import { answerHardware, classifyTrustedEvent } from "../../../src/hardware/requests.ts";
import { X86TdxHardware } from "../../../src/hardware/x86-tdx.ts";
import { PartyIO } from "../../../src/kit/outbox.ts";
import { type PartyEvent, XStateParty } from "../../../src/kit/xstate-party.ts";
import { TdxModule } from "./module.ts";
import type { OpState } from "./sept-table.ts";
import { cacheWb, keyFreeId, reclaim, vpFlush, vpFlushDone, wbinvd } from "./teardown.ts";
import { TdxVcpus } from "./vcpus.ts";

export interface TdxOptions {
  /** Integrity in Ci mode: a host read of a private line machine-checks the host. */
  hostReadMachineChecks: boolean;
  /** X86_BUG_TDX_PW_MCE: a host partial write to a private line poisons it (default: yes). */
  partialWriteErratum?: boolean;
  /** A deliberately broken module (attack A11): ACCEPT does not zero. */
  mutant?: { acceptWithoutZeroing?: boolean };
}

interface TdxContext {
  module: TdxModule;
  cpu: X86TdxHardware;
  vcpus: TdxVcpus;
  io: PartyIO;
}

type Handler = (ctx: TdxContext, env: RequestEnvelope, op: OpState) => U64 | undefined;

/** A SEAMCALL answered with just a status. `undefined` = the handler replied itself. */
const statusOnly =
  <N extends CallName>(fn: (ctx: TdxContext, msg: Request<N>, op: OpState) => U64): Handler =>
  (ctx, env, op) =>
    fn(ctx, env.msg as Request<N>, op);

const SEAMCALLS: Partial<Record<CallName, Handler>> = {
  "TDH.MNG.CREATE": statusOnly<"TDH.MNG.CREATE">((c, m) => c.module.create(m)),
  "TDH.MNG.KEY.CONFIG": statusOnly((c) => c.module.keyConfig()),
  "TDH.MNG.INIT": statusOnly<"TDH.MNG.INIT">((c, m) => c.module.init(m)),
  "TDH.VP.CREATE": statusOnly<"TDH.VP.CREATE">((c, m) => c.module.vpCreate(m)),
  "TDH.MEM.SEPT.ADD": statusOnly<"TDH.MEM.SEPT.ADD">((c, m, op) => c.module.septAdd(m, op)),
  "TDH.MEM.PAGE.ADD": statusOnly<"TDH.MEM.PAGE.ADD">((c, m, op) => c.module.pageAdd(m, op)),
  "TDH.MR.EXTEND": statusOnly<"TDH.MR.EXTEND">((c, m, op) => c.module.mrExtend(m, op)),
  "TDH.MR.FINALIZE": statusOnly((c) => c.module.finalize()),
  "TDH.MEM.PAGE.AUG": statusOnly<"TDH.MEM.PAGE.AUG">((c, m, op) => c.module.aug(m, op)),
  "TDH.MEM.RANGE.BLOCK": statusOnly<"TDH.MEM.RANGE.BLOCK">((c, m, op) => c.module.block(m, op)),
  "TDH.MEM.RANGE.UNBLOCK": statusOnly<"TDH.MEM.RANGE.UNBLOCK">((c, m, op) => c.module.unblock(m, op)),
  "TDH.MEM.TRACK": statusOnly((c) => c.module.track()),
  "TDH.MEM.PAGE.DEMOTE": statusOnly<"TDH.MEM.PAGE.DEMOTE">((c, m, op) => c.module.demote(m, op)),
  "TDH.PHYMEM.PAGE.WBINVD": statusOnly<"TDH.PHYMEM.PAGE.WBINVD">((c, m) => wbinvd(c.module, m)),
  "TDH.VP.FLUSH": (c, env) => {
    const msg = env.msg as Request<"TDH.VP.FLUSH">;
    const status = vpFlush(c.module, msg);
    if (isTdxSuccess(status)) c.vcpus.discard(msg.vcpu);
    return status;
  },
  "TDH.MNG.VPFLUSHDONE": statusOnly((c) => vpFlushDone(c.module)),
  "TDH.PHYMEM.CACHE.WB": statusOnly((c) => cacheWb(c.module)),
  "TDH.MNG.KEY.FREEID": statusOnly((c) => keyFreeId(c.module)),
  "TDH.MEM.PAGE.REMOVE": (c, env, op) => {
    c.io.reply(env, c.module.remove(env.msg as Request<"TDH.MEM.PAGE.REMOVE">, op));
    return undefined;
  },
  "TDH.MEM.PAGE.PROMOTE": (c, env, op) => {
    c.io.reply(env, c.module.promote(env.msg as Request<"TDH.MEM.PAGE.PROMOTE">, op));
    return undefined;
  },
  "TDH.PHYMEM.PAGE.RECLAIM": (c, env) => {
    c.io.reply(env, reclaim(c.module, env.msg as Request<"TDH.PHYMEM.PAGE.RECLAIM">));
    return undefined;
  },
  "TDH.MNG.RD": (c, env) => {
    c.io.reply(env, { type: "TDH.MNG.RD", status: tdxStatus("TDX_SUCCESS"), value: c.module.measurement });
    return undefined;
  },
  "TDH.VP.ENTER": (c, env) => {
    c.vcpus.enter(env as RequestEnvelope<"TDH.VP.ENTER">);
    return undefined;
  },
};

function replyStatus(ctx: TdxContext, env: Envelope, status: U64): void {
  ctx.io.reply(env as RequestEnvelope, { type: env.msg.type, status } as never);
}

/** Run a SEAMCALL in op state `op`; true if it succeeded (drives op-state transitions). */
function seamcall(ctx: TdxContext, env: Envelope, op: OpState): boolean {
  const handler = SEAMCALLS[env.msg.type as CallName];
  if (!handler) throw new Error(`bug: no handler for ${env.msg.type}`);
  const status = handler(ctx, env as RequestEnvelope, op);
  if (status === undefined) return true;
  replyStatus(ctx, env, status);
  return isTdxSuccess(status);
}

/** Delivered messages, plus "@advance:<call>": raised when a state-changing SEAMCALL succeeded. */
type Ev = (PartyEvent & { env: Envelope }) | { type: `@advance:${string}`; env?: undefined };

export type TdState = "NO_TD" | "UNINIT" | "INITIALIZED" | "RUNNABLE" | "TD_BLOCKED" | "TD_TEARDOWN";

interface TdStateSpec {
  /** The op state the module's checks see in this state. */
  readonly op: OpState;
  /** SEAMCALLs taken here (besides those taken in every state). */
  readonly calls: readonly CallName[];
  /** The SEAMCALLs whose success moves the TD on, and where to. */
  readonly advances: readonly { readonly call: CallName; readonly to: TdState }[];
  /** Status for any other SEAMCALL. */
  readonly refusal: TdxStatusName;
}

const SEPT_CALLS: readonly CallName[] = [
  "TDH.MEM.RANGE.BLOCK",
  "TDH.MEM.RANGE.UNBLOCK",
  "TDH.MEM.TRACK",
  "TDH.MEM.PAGE.REMOVE",
  "TDH.MEM.PAGE.DEMOTE",
  "TDH.MEM.PAGE.PROMOTE",
];

/**
 * SEAMCALLs that check the TD's build state first (check_td_in_correct_build_state(), helpers.c;
 * tdh_vp_flush.c checks the lifecycle itself): while the TD's key is not configured (before
 * KEY.CONFIG, after VPFLUSHDONE) they answer TDX_TD_KEYS_NOT_CONFIGURED, before any op-state check.
 */
const BUILD_STATE_CALLS: readonly CallName[] = [
  "TDH.VP.ENTER",
  "TDH.VP.CREATE",
  "TDH.VP.FLUSH",
  "TDH.MNG.INIT",
  "TDH.MEM.SEPT.ADD",
  "TDH.MEM.PAGE.ADD",
  "TDH.MEM.PAGE.AUG",
  "TDH.MR.EXTEND",
  "TDH.MR.FINALIZE",
  ...SEPT_CALLS,
];

/**
 * SEAMCALLs with no op-state lookup: they check what they need themselves (RECLAIM: the owning
 * TD's lifecycle, tdh_phymem_page_reclaim.c).
 */
export const ANY_STATE_CALLS: readonly CallName[] = [
  "TDH.MNG.RD",
  "TDH.PHYMEM.PAGE.WBINVD",
  "TDH.PHYMEM.PAGE.RECLAIM",
];

/**
 * The TD lifecycle as data (TDR/TDCS op state, then the teardown states): which SEAMCALLs each
 * state takes and which call moves it on. The machine below is generated from it, and
 * `cocomem describe tdx` prints it.
 */
export const TD_LIFECYCLE: Readonly<Record<TdState, TdStateSpec>> = {
  NO_TD: {
    op: "UNINIT",
    calls: [],
    advances: [{ call: "TDH.MNG.CREATE", to: "UNINIT" }],
    refusal: "TDX_OP_STATE_INCORRECT",
  },
  UNINIT: {
    op: "UNINIT",
    calls: ["TDH.MNG.KEY.CONFIG"],
    advances: [{ call: "TDH.MNG.INIT", to: "INITIALIZED" }],
    refusal: "TDX_OP_STATE_INCORRECT",
  },
  INITIALIZED: {
    op: "INITIALIZED",
    calls: [
      "TDH.VP.CREATE",
      "TDH.MEM.SEPT.ADD",
      "TDH.MEM.PAGE.ADD",
      "TDH.MEM.PAGE.AUG",
      "TDH.MR.EXTEND",
      // VP.FLUSH is legal in every op state and VPFLUSHDONE checks only the lifecycle
      // (tdh_vp_flush.c, tdh_mng_vpflushdone.c): a TD that never finalized can be torn down.
      "TDH.VP.FLUSH",
      ...SEPT_CALLS,
    ],
    advances: [
      { call: "TDH.MR.FINALIZE", to: "RUNNABLE" },
      { call: "TDH.MNG.VPFLUSHDONE", to: "TD_BLOCKED" },
    ],
    refusal: "TDX_OP_STATE_INCORRECT",
  },
  RUNNABLE: {
    op: "RUNNABLE",
    calls: ["TDH.VP.ENTER", "TDH.MEM.SEPT.ADD", "TDH.MEM.PAGE.AUG", "TDH.VP.FLUSH", ...SEPT_CALLS],
    advances: [{ call: "TDH.MNG.VPFLUSHDONE", to: "TD_BLOCKED" }],
    refusal: "TDX_OP_STATE_INCORRECT",
  },
  /** HKID being released: no vCPU may run, caches are written back. */
  TD_BLOCKED: {
    op: "RUNNABLE",
    calls: ["TDH.PHYMEM.CACHE.WB"],
    advances: [{ call: "TDH.MNG.KEY.FREEID", to: "TD_TEARDOWN" }],
    refusal: "TDX_LIFECYCLE_STATE_INCORRECT",
  },
  TD_TEARDOWN: {
    op: "RUNNABLE",
    calls: [],
    advances: [],
    refusal: "TDX_LIFECYCLE_STATE_INCORRECT",
  },
};

const states = Object.fromEntries(
  (Object.keys(TD_LIFECYCLE) as TdState[]).map((state) => {
    const moves = Object.fromEntries(
      TD_LIFECYCLE[state].advances.map(({ call, to }) => [
        `@advance:${call}`,
        { target: to, description: call },
      ]),
    );
    const on = {
      seamcall: [
        {
          guard: { type: "advances" as const, params: { state } },
          actions: { type: "advance" as const, params: { state } },
        },
        { actions: { type: "seamcall" as const, params: { state } } },
      ],
    };
    return [state, { on: { ...on, ...moves } }];
  }),
);

export const tdxMachine = setup({
  types: { context: {} as TdxContext, events: {} as Ev, input: {} as TdxContext },
  guards: {
    advances: ({ event }, params: { state: TdState }) =>
      TD_LIFECYCLE[params.state].advances.some((a) => a.call === event.env?.msg.type),
  },
  actions: {
    /** A SEAMCALL that does not change the TD state: run it if this state takes it, else refuse. */
    seamcall: ({ context, event }, params: { state: TdState }) => {
      const spec = TD_LIFECYCLE[params.state];
      const type = event.env!.msg.type as CallName;
      if (spec.calls.includes(type) || ANY_STATE_CALLS.includes(type)) seamcall(context, event.env!, spec.op);
      else if (BUILD_STATE_CALLS.includes(type) && context.module.keyState !== "KEYS_CONFIGURED")
        replyStatus(context, event.env!, tdxStatus("TDX_TD_KEYS_NOT_CONFIGURED"));
      else replyStatus(context, event.env!, tdxStatus(spec.refusal));
    },
    /** The state's advancing SEAMCALL: on success the TD moves on. */
    advance: enqueueActions(({ context, event, enqueue }, params: { state: TdState }) => {
      const env = event.env!;
      if (seamcall(context, env, TD_LIFECYCLE[params.state].op))
        enqueue.raise({ type: `@advance:${env.msg.type}` as const });
    }),
    instruction: ({ context, event }) => context.vcpus.instruction(event.env!),
    hardware: ({ context, event }) =>
      answerHardware(context.io, event.env as RequestEnvelope, context.cpu, context.vcpus),
  },
}).createMachine({
  id: "tdx-module",
  context: ({ input }) => input,
  initial: "NO_TD",
  on: {
    "@start": {},
    instruction: { actions: "instruction" },
    hardware: { actions: "hardware" },
  },
  states,
});

/** The trusted side of a TDX run, ready for a transport. */
export function createTdxTrustedParty(options: TdxOptions): XStateParty {
  const io = new PartyIO();
  const frames = new FrameStore();
  const module = new TdxModule(frames, io, options.mutant);
  const cpu = new X86TdxHardware(frames, io, options);
  const context: TdxContext = { module, cpu, io, vcpus: new TdxVcpus(module, cpu, io) };
  return new XStateParty("trusted", tdxMachine, context, io, (env) => classifyTrustedEvent(env, "seamcall"));
}
