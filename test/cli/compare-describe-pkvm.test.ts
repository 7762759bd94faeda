// The side-by-side comparison and `describe pkvm`, through the CLI as a user runs them.
import { describe, expect, it } from "vitest";
import { TRANSITIONS } from "../../actors/trusted/pkvm/page-state.ts";
import { sideBySide, zeroings } from "../../src/cli/compare-command.ts";
import { runScenario } from "../../src/run/run.ts";
import { cli, expectUsageError } from "./capture.ts";

describe("cocomem compare", () => {
  it("should show TDX's module zeroing on accept against nobody zeroing on pKVM's in-place share", async () => {
    const tdx = zeroings(await runScenario(sideBySide("tdx", "linux")));
    const pkvm = zeroings(await runScenario(sideBySide("pkvm", "linux")));
    expect(tdx.get("fw: TDG.MEM.PAGE.ACCEPT")).toBe(2);
    expect(pkvm.get("fw: TDG.MEM.PAGE.ACCEPT")).toBeUndefined();
    // Linux's pkvm-guest driver zeroes nothing around MEM_SHARE / MEM_UNSHARE.
    expect(pkvm.get("guest/vcpuN: stores zeros")).toBeUndefined();
    expect(tdx.get("guest/vcpuN: stores zeros")).toBeUndefined();
    expect(pkvm.get("fw: hyp_poison_page (__pkvm_reclaim_dying_guest_page)")).toBe(1);
    expect(tdx.get("host/kvm: tdx_clear_page")).toBe(2);
  });

  it("should zero the same on pKVM under both guest policies: neither clears around sharing", async () => {
    const linux = zeroings(await runScenario(sideBySide("pkvm", "linux")));
    const naive = zeroings(await runScenario(sideBySide("pkvm", "naive")));
    expect([...naive]).toEqual([...linux]);
    expect(naive.get("fw: hyp_poison_page (__pkvm_reclaim_dying_guest_page)")).toBe(1);
  });

  it("should print both platforms' columns and verdicts", async () => {
    const result = await cli("compare");
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/who zeroed, and why\s+TDX\s+pKVM/);
    expect(result.out).toMatch(/fw: TDG\.MEM\.PAGE\.ACCEPT\s+2\s+0/);
    expect(result.out).toContain("tdx   completed");
    expect(result.out).toContain("pkvm  completed");
  });

  it("should refuse a bad policy as a usage error", async () => {
    expectUsageError(await cli("compare", "--guest-policy", "evil"));
  });
});

describe("cocomem describe pkvm", () => {
  it("should print the transition table from the model's own data", async () => {
    const result = await cli("describe", "pkvm", "--format", "json");
    expect(result.code).toBe(0);
    const data = JSON.parse(result.out);
    expect(data.transitions).toEqual(JSON.parse(JSON.stringify(TRANSITIONS)));
    expect(data.messages.map((m: { name: string }) => m.name)).toContain(
      "ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE",
    );
    expect(data.messages.map((m: { name: string }) => m.name)).not.toContain("TDH.MEM.PAGE.AUG");
  });

  it("should list every call and page state in text", async () => {
    const result = await cli("describe", "pkvm");
    for (const call of Object.keys(TRANSITIONS)) expect(result.out).toContain(call);
    expect(result.out).toContain("PKVM_POISON");
  });
});
