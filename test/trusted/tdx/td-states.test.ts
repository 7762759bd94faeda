// The TDX module's answers by TD state, through the trusted party itself (its XState machine):
// TDX_TD_KEYS_NOT_CONFIGURED before KEY.CONFIG and after VPFLUSHDONE (check_td_in_correct_build_state(),
// helpers.c), VP.FLUSH and VPFLUSHDONE legal in INITIALIZED (op_state_lookup, tdh_vp_flush.c,
// tdh_mng_vpflushdone.c), TRACK refused while the previous epoch has vCPUs (tdh_mem_track.c).
// Status values from the module's error codes, written out.
import { describe, expect, it } from "vitest";
import { createTdxTrustedParty } from "../../../actors/trusted/tdx/machine.ts";
import type { Request } from "../../../protocol/index.ts";
import type { StepOutput } from "../../../src/kit/party.ts";

const SUCCESS = "0x0000000000000000";
const KEYS_NOT_CONFIGURED = "0x8000081000000000";
const OP_STATE_INCORRECT = "0xc000060800000000";
const PREVIOUS_TLB_EPOCH_BUSY = "0x8000020100000000";
const LIFECYCLE_STATE_INCORRECT = "0xc000060700000000";

function module() {
  const party = createTdxTrustedParty({ hostReadMachineChecks: false });
  party.start();
  let n = 0;
  const send = (msg: Request): StepOutput =>
    party.deliver({
      env: { type: "msg", seq: n, id: `q${n++}`, from: "host/kvm", to: "fw", kind: "request", msg },
    }) as StepOutput;
  /** The status of a SEAMCALL answered at once. */
  const status = (msg: Request): string => {
    const reply = send(msg).out.find((o) => o.kind === "response");
    return (reply?.msg as { status?: string } | undefined)?.status ?? "no answer";
  };
  return { send, status };
}

/** A TD created, configured and initialised, with one vCPU. */
function initialized() {
  const td = module();
  expect(td.status({ type: "TDH.MNG.CREATE", tdr: 0x100_0000, hkid: 2 })).toBe(SUCCESS);
  expect(td.status({ type: "TDH.VP.CREATE", vcpu: 0, tdvpr: 0x100_1000 })).toBe(KEYS_NOT_CONFIGURED);
  expect(td.status({ type: "TDH.MNG.KEY.CONFIG" })).toBe(SUCCESS);
  // Keys configured, op state still UNINIT: now the op-state check answers.
  expect(td.status({ type: "TDH.VP.CREATE", vcpu: 0, tdvpr: 0x100_1000 })).toBe(OP_STATE_INCORRECT);
  expect(
    td.status({ type: "TDH.MNG.INIT", septVeDisable: true, flexiblePendingVe: false, gpaWidth: 48 }),
  ).toBe(SUCCESS);
  expect(td.status({ type: "TDH.VP.CREATE", vcpu: 0, tdvpr: 0x100_1000 })).toBe(SUCCESS);
  return td;
}

describe("the TD's state decides the answer", () => {
  it("should tear down a TD that never finalized: VP.FLUSH and VPFLUSHDONE in INITIALIZED", () => {
    const td = initialized();
    expect(td.status({ type: "TDH.VP.FLUSH", vcpu: 0 })).toBe(SUCCESS);
    expect(td.status({ type: "TDH.MNG.VPFLUSHDONE" })).toBe(SUCCESS);
    expect(td.status({ type: "TDH.PHYMEM.CACHE.WB" })).toBe(SUCCESS);
    expect(td.status({ type: "TDH.MNG.KEY.FREEID" })).toBe(SUCCESS);
  });

  it("should answer TDX_TD_KEYS_NOT_CONFIGURED to TD-scoped calls once VPFLUSHDONE blocked the key", () => {
    const td = initialized();
    expect(td.status({ type: "TDH.MR.FINALIZE" })).toBe(SUCCESS);
    expect(td.status({ type: "TDH.VP.FLUSH", vcpu: 0 })).toBe(SUCCESS);
    expect(td.status({ type: "TDH.MNG.VPFLUSHDONE" })).toBe(SUCCESS);
    for (const msg of [
      { type: "TDH.MEM.RANGE.BLOCK", gpa: 0x20_0000, level: 0 },
      { type: "TDH.MEM.PAGE.REMOVE", gpa: 0x20_0000, level: 0 },
      { type: "TDH.MEM.PAGE.AUG", gpa: 0x20_0000, level: 0, hpa: 0x200_0000 },
      { type: "TDH.MEM.TRACK" },
      { type: "TDH.VP.FLUSH", vcpu: 0 },
    ] as Request[]) {
      expect(td.status(msg), msg.type).toBe(KEYS_NOT_CONFIGURED);
    }
  });

  it("should refuse TRACK while a vCPU still runs in the previous epoch", () => {
    const td = initialized();
    expect(td.status({ type: "TDH.MR.FINALIZE" })).toBe(SUCCESS);
    // The vCPU enters (epoch 1) and stays in the guest: TDH.VP.ENTER does not answer yet.
    expect(td.send({ type: "TDH.VP.ENTER", vcpu: 0 }).out).toEqual([]);
    expect(td.status({ type: "TDH.MEM.TRACK" })).toBe(SUCCESS);
    expect(td.status({ type: "TDH.MEM.TRACK" })).toBe(PREVIOUS_TLB_EPOCH_BUSY);
  });

  it("should answer RECLAIM of a running TD's page by its lifecycle, not its op state", () => {
    // tdh_phymem_page_reclaim.c has no op-state lookup: it checks the owner's lifecycle itself.
    const td = initialized();
    expect(td.status({ type: "TDH.MR.FINALIZE" })).toBe(SUCCESS);
    expect(td.status({ type: "TDH.PHYMEM.PAGE.RECLAIM", hpa: 0x100_1000 })).toBe(LIFECYCLE_STATE_INCORRECT);
  });
});
