// What differs between the pKVM versions the model follows, at EL2, against the sources:
// android16-6.12 (ACK16 hyp/nvhe/pkvm.c, mem_protect.c, hyp-main.c) and linux-7.1 (the protected
// guest memory series). Errnos from include/uapi/asm-generic/errno*.h, written out here.
import { describe, expect, it } from "vitest";
import { PkvmMemProtect } from "../../../actors/trusted/pkvm/mem-protect.ts";
import type { LogLine } from "../../../protocol/log.ts";
import { type PkvmProfile, PROFILES } from "../../../protocol/profiles.ts";
import { FrameStore } from "../../../src/hardware/frames.ts";
import { PartyIO } from "../../../src/kit/outbox.ts";
import { runScenario } from "../../../src/run/run.ts";
import { defineScenario } from "../../../src/scenarios/define.ts";
import { findBuiltIn } from "../../../src/scenarios/index.ts";

const EPERM = -1;
const ENOENT = -2;
const EAGAIN = -11;
const EFAULT = -14;
const EBUSY = -16;
const EINVAL = -22;
const SMCCC_RET_NOT_SUPPORTED = -1;
const RAM_PAGES = 0x10000;
const ACK16 = PROFILES["android16-6.12"] as PkvmProfile;
const V71 = PROFILES["linux-7.1"] as PkvmProfile;

/** A protected VM with one vCPU loaded and one page donated at gfn 0x10. */
function el2(profile: PkvmProfile) {
  const mp = new PkvmMemProtect(new FrameStore(), new PartyIO(), RAM_PAGES, profile);
  const handle = mp.initVm(true, 1);
  expect(mp.vcpuLoad(handle, 0)).toBe(0);
  expect(mp.hostDonateGuest(0x100, 0x10, 0)).toBe(0);
  return { mp, handle, vm: mp.vms.get(handle)! };
}

describe("teardown errnos (__pkvm_start_teardown_vm, __pkvm_finalize_teardown_vm)", () => {
  for (const [profile, unknown, busy] of [
    [ACK16, ENOENT, EBUSY],
    [V71, EINVAL, EINVAL],
  ] as const) {
    it(`should answer ${profile.name}'s errnos`, () => {
      const { mp, handle } = el2(profile);
      expect(mp.startTeardown(99)).toBe(unknown);
      expect(mp.startTeardown(handle)).toBe(busy);
      expect(mp.finalizeTeardown(99)).toBe(unknown);
      expect(mp.finalizeTeardown(handle)).toBe(busy);
      expect(mp.vcpuPut(0)).toBe(0);
      expect(mp.startTeardown(handle)).toBe(0);
      expect(mp.startTeardown(handle)).toBe(EINVAL);
      // No check that every page came back: the donated page is still there.
      expect(mp.finalizeTeardown(handle)).toBe(0);
    });
  }
});

describe("unmapping a protected VM's page", () => {
  it("should be -EPERM from EL2 on android16-6.12 and -EINVAL (get_np_pkvm_hyp_vm) on linux-7.1", () => {
    expect(el2(ACK16).mp.hostWrprotectGuest(1, 0x10)).toBe(EPERM);
    expect(el2(V71).mp.hostWrprotectGuest(1, 0x10)).toBe(EINVAL);
  });
});

describe("forced reclaim (__pkvm_host_force_reclaim_page_guest, 7.1 only)", () => {
  it("should not exist on android16-6.12", () => {
    expect(el2(ACK16).mp.forceReclaimGuestPage(0x100)).toBe(SMCCC_RET_NOT_SUPPORTED);
  });

  it("should check memory, the host state, the owner and the guest PTE in 7.1's order", () => {
    const { mp, vm } = el2(V71);
    expect(mp.forceReclaimGuestPage(RAM_PAGES + 1)).toBe(EFAULT);
    // A page the host still owns should not fault: retry the access.
    expect(mp.forceReclaimGuestPage(0x200)).toBe(EAGAIN);
    expect(mp.hostDonateHyp(0x300, 1)).toBe(0);
    expect(mp.forceReclaimGuestPage(0x300)).toBe(EPERM);
    expect(mp.forceReclaimGuestPage(0x100)).toBe(0);
    expect(vm.s2.get(0x10)?.state).toBe("PKVM_POISON");
    // Now the host's again: the access just works.
    expect(mp.forceReclaimGuestPage(0x100)).toBe(EAGAIN);
  });

  it("should answer -EAGAIN for a VM gone under it (raced with teardown)", () => {
    const { mp, handle } = el2(V71);
    expect(mp.vcpuPut(0)).toBe(0);
    expect(mp.startTeardown(handle)).toBe(0);
    expect(mp.finalizeTeardown(handle)).toBe(0);
    expect(mp.forceReclaimGuestPage(0x100)).toBe(EAGAIN);
  });
});

describe("MEM_RELINQUISH (ACK16 __pkvm_guest_relinquish_to_host)", () => {
  it("should be a no-op with no exit on an IPA with no page, and release a guest-owned page", () => {
    const { mp, vm } = el2(ACK16);
    expect(mp.guestRelinquish(vm, 0x20)).toEqual({ ret: 0, released: false });
    expect(mp.guestRelinquish(vm, 0x10)).toEqual({ ret: 0, released: true });
  });

  it("should not exist on linux-7.1 (NOT_SUPPORTED)", () => {
    const { mp, vm } = el2(V71);
    expect(mp.guestRelinquish(vm, 0x10)).toEqual({ ret: SMCCC_RET_NOT_SUPPORTED, released: false });
  });
});

/** The guest's hypercall answers of one type, and the exits __kvm_vcpu_run returned. */
function answers(log: readonly LogLine[], type: string) {
  return log.flatMap((l) =>
    l.type === "msg" && l.kind === "response" && l.msg.type === type ? [l.msg] : [],
  );
}
const exits = (log: readonly LogLine[]) =>
  answers(log, "__kvm_vcpu_run").flatMap((m) =>
    "exit" in m && m.exit ? [(m.exit as { reason: string }).reason] : [],
  );

describe("guest hypercalls per profile, in a run", () => {
  for (const [profile, x1, count] of [
    ["android16-6.12", 1, 1],
    ["linux-7.1", 0, 0],
  ] as const) {
    it(`should answer MEMINFO and MEM_SHARE/UNSHARE as ${profile} does, with no exit to the host`, async () => {
      const run = await runScenario(findBuiltIn("pkvm/share-unshare")!, { profile });
      expect(answers(run.log, "ARM_SMCCC_VENDOR_HYP_KVM_HYP_MEMINFO")).toEqual([
        { type: "ARM_SMCCC_VENDOR_HYP_KVM_HYP_MEMINFO", x0: 4096, x1 },
      ]);
      expect(answers(run.log, "ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE")).toEqual([
        { type: "ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE", x0: 0, x1: count },
      ]);
      expect(answers(run.log, "ARM_SMCCC_VENDOR_HYP_KVM_MEM_UNSHARE")).toEqual([
        { type: "ARM_SMCCC_VENDOR_HYP_KVM_MEM_UNSHARE", x0: 0, x1: count },
      ]);
      expect(exits(run.log)).not.toContain("HVC");
      expect(run.unmet).toEqual([]);
    });
  }
});

describe("the host kernel touching a donated page, per profile", () => {
  const uaccess = defineScenario({
    name: "test/uaccess",
    description: "",
    platform: "pkvm",
    guest: {
      memory: "16M",
      workload: [
        [
          { op: "write", gpa: 0x100000, tag: "secret", secret: true },
          { op: "post", value: 1 },
          { op: "read", gpa: 0x100000 },
        ],
      ],
    },
    host: { onPost: [{ value: 1, do: [{ op: "kernel-read", gpa: 0x100000, via: "uaccess" }] }] },
    expect: { outcome: "completed" },
  });

  for (const profile of ["android16-6.12", "linux-7.1"] as const) {
    it(`should fix a uaccess up to -EFAULT and leave the page alone (${profile})`, async () => {
      const run = await runScenario(uaccess, { profile });
      expect(run.result.outcome).toBe("completed");
      const faults = run.log.flatMap((l) =>
        l.type === "effect" && l.effect.e === "fault" ? [l.effect.kind] : [],
      );
      expect(faults).toContain("uaccess -EFAULT");
      expect(faults).not.toContain("die_kernel_fault");
      expect(answers(run.log, "__pkvm_force_reclaim_guest_page")).toEqual([]);
    });
  }

  it("should oops on android16-6.12 and force-reclaim on linux-7.1 for a kernel-mapping access", async () => {
    const ack = await runScenario(findBuiltIn("pkvm/host-kernel-touches-donated-android16")!);
    expect(ack.result.outcome).toBe("completed");
    const v71 = await runScenario(findBuiltIn("pkvm/host-kernel-touches-donated")!);
    expect(v71.result.outcome).toBe("vm-killed-by-host");
    expect(answers(v71.log, "__pkvm_force_reclaim_guest_page")).toEqual([
      { type: "__pkvm_force_reclaim_guest_page", ret: 0 },
    ]);
  });
});
