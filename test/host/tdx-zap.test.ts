// KVM's private-SPTE zap path (tdx_sept_remove_private_spte(), tdh_do_no_vcpus(), tdx_track() in
// arch/x86/kvm/vmx/tdx.c, v7.0), driven call by call with the answers a module gives: one retry on
// TDX_OPERAND_BUSY with the vCPUs kicked out, any other error bugs the VM and leaks the page, and
// nothing throws (0.4.0 retried REMOVE 16 times and then crashed the host).
import { describe, expect, it } from "vitest";
import type { HostVmState, VmEvent } from "../../actors/host/lifecycle.ts";
import { zapLeaf } from "../../actors/host/tdx/zap.ts";
import type { Effect, Request } from "../../protocol/index.ts";
import { testTdxVm } from "./tdx-vm.ts";

const SUCCESS = { status: "0x0000000000000000" };
const OPERAND_BUSY_SEPT = { status: "0x8000020000000092" };
const ALREADY_BLOCKED = { status: "0x00000b0700000001" };
const ENTRY_STATE_INCORRECT = { status: "0xc0000b0d00000001" };
const GPA = 0x200000;
const HPA = 0x1_2345_6000;

function zap(finalized: boolean) {
  const events: VmEvent["type"][] = [];
  const vm = testTdxVm({ state: "running" as HostVmState, notify: (e: VmEvent) => events.push(e.type) });
  const { io, tasks } = vm;
  vm.vcpus = 1;
  vm.finalized = finalized;
  vm.mirror4K.set(GPA, HPA);
  const effects: Effect[] = [];
  let failure: unknown;
  let done = false;
  tasks.spawn(
    "host/kvm",
    (function* () {
      try {
        yield* zapLeaf(vm, GPA, 0);
        done = true;
      } catch (error) {
        failure = error;
      }
    })(),
  );
  const take = () => {
    const step = io.drain();
    effects.push(...step.effects);
    return step.out[0];
  };
  let pending = take();
  return {
    vm,
    effects,
    events,
    get request() {
      return pending?.msg as Request | undefined;
    },
    get done() {
      return done;
    },
    get failure() {
      return failure;
    },
    answer(type: string, fields: object) {
      tasks.resume(pending!.ref!, { type, ...fields });
      pending = take();
    },
  };
}

describe("KVM's private zap path", () => {
  it("should BLOCK, TRACK, kick, REMOVE, WBINVD and clear a page of a runnable TD", () => {
    const run = zap(true);
    const seen: string[] = [];
    while (run.request) {
      const r = run.request;
      seen.push(r.type);
      run.answer(
        r.type,
        r.type === "vcpu.kick"
          ? { wasRunning: false }
          : r.type === "host.access"
            ? { outcome: { result: "ok" } }
            : SUCCESS,
      );
    }
    expect(seen).toEqual([
      "TDH.MEM.RANGE.BLOCK",
      "TDH.MEM.TRACK",
      "vcpu.kick",
      "TDH.MEM.PAGE.REMOVE",
      "TDH.PHYMEM.PAGE.WBINVD",
      "host.access",
    ]);
    expect(run.done).toBe(true);
    expect(run.vm.vmDead).toBe(false);
    expect(run.vm.mirror4K.has(GPA)).toBe(false);
  });

  it("should not TRACK a TD that never finalized (tdx_track() needs TD_STATE_RUNNABLE)", () => {
    const run = zap(false);
    run.answer("TDH.MEM.RANGE.BLOCK", SUCCESS);
    expect(run.request?.type).toBe("TDH.MEM.PAGE.REMOVE");
  });

  it("should retry once on TDX_OPERAND_BUSY, after kicking every vCPU out", () => {
    const run = zap(true);
    run.answer("TDH.MEM.RANGE.BLOCK", OPERAND_BUSY_SEPT);
    expect(run.request).toEqual({ type: "vcpu.kick", vcpu: 0 });
    run.answer("vcpu.kick", { wasRunning: true });
    expect(run.request).toEqual({ type: "TDH.MEM.RANGE.BLOCK", gpa: GPA, level: 0 });
    run.answer("TDH.MEM.RANGE.BLOCK", OPERAND_BUSY_SEPT);
    // A second OPERAND_BUSY is TDX_BUG_ON: the VM is bugged, no third try.
    expect(run.request).toBeUndefined();
    expect(run.vm.vmDead).toBe(true);
  });

  it("should bug the VM and leak the page on TDX_GPA_RANGE_ALREADY_BLOCKED, without throwing", () => {
    const run = zap(true);
    run.answer("TDH.MEM.RANGE.BLOCK", ALREADY_BLOCKED);
    expect(run.failure).toBeUndefined();
    expect(run.done).toBe(true);
    expect(run.request).toBeUndefined();
    expect(run.vm.vmDead).toBe(true);
    expect(run.events).toEqual(["vm.dead"]);
    expect(run.vm.leaked.has(HPA)).toBe(true);
    // The mirror SPTE goes anyway (remove_external_spte() ignores the result).
    expect(run.vm.mirror4K.has(GPA)).toBe(false);
    expect(run.effects).toContainEqual({
      e: "lifecycle",
      by: "host/kvm",
      state: "vm-killed",
      detail: "SEAMCALL TDH_MEM_RANGE_BLOCK failed: 0x00000b0700000001",
    });
    expect(run.effects.some((e) => e.e === "fault" && e.kind === "leaked" && e.hpa === HPA)).toBe(true);
  });

  it("should stop at a failed REMOVE: no WBINVD, no clear, the page never reused", () => {
    const run = zap(true);
    run.answer("TDH.MEM.RANGE.BLOCK", SUCCESS);
    run.answer("TDH.MEM.TRACK", SUCCESS);
    run.answer("vcpu.kick", { wasRunning: false });
    run.answer("TDH.MEM.PAGE.REMOVE", ENTRY_STATE_INCORRECT);
    expect(run.request).toBeUndefined();
    expect(run.done).toBe(true);
    expect(run.vm.leaked.has(HPA)).toBe(true);
  });
});
