import { describe, expect, it } from "vitest";
import type { PamtPageType, ZeroReason } from "../../protocol/index.ts";
import { TdxSanitisationMonitor } from "../../src/monitors/sanitisation-tdx.ts";
import { effect, finish, guestData, hostData, observe, ZERO } from "./lines.ts";

const HPA = 0x1_0060_0000;
const GPA = 0x200000;
const LEAVING = "a page leaving the TD is cleared by the host (MOVDIR64B)";
const ENTERING = "a page entering the TD is zeroed by TDG.MEM.PAGE.ACCEPT";

const toHost = (seq: number, hpa: number, pages = 1, pageType: PamtPageType = "PT_REG") =>
  effect(seq, { e: "owner", by: "fw", hpa, pages, from: "TD", to: "host", pageType });
const toTd = (seq: number, hpa: number, pages = 1, pageType: PamtPageType = "PT_REG") =>
  effect(seq, { e: "owner", by: "fw", hpa, pages, from: "host", to: "TD", pageType });
const hostZero = (seq: number, hpa: number, why: ZeroReason, pages = 1) =>
  effect(seq, { e: "zero", by: "host/kvm", hpa, pages, why, keyId: 0 });

describe("TdxSanitisationMonitor", () => {
  it("should blame the host for reading a released frame before clearing it", () => {
    const monitor = new TdxSanitisationMonitor();
    const findings = observe(monitor, [
      toHost(1, HPA),
      effect(2, { e: "read", by: "host/kvm", hpa: HPA, content: { k: "ciphertext", keyId: 1 } }),
    ]);
    expect(findings).toEqual([
      {
        invariant: LEAVING,
        responsible: "host",
        hpa: HPA,
        evidence: [1, 2],
        detail: "host/kvm used the frame before clearing it",
      },
    ]);
    // Reported once, not again at the end.
    expect(finish(monitor)).toEqual([]);
  });

  it("should blame the host for writing a released frame before clearing it", () => {
    const findings = observe(new TdxSanitisationMonitor(), [
      toHost(1, HPA),
      effect(2, { e: "write", by: "host/vmm", hpa: HPA + 0x40, content: hostData("reuse") }),
    ]);
    expect(findings.map((f) => [f.invariant, f.responsible, f.hpa, f.evidence])).toEqual([
      [LEAVING, "host", HPA, [1, 2]],
    ]);
  });

  it("should not count a plain clear_page as the clearing MOVDIR64B", () => {
    const findings = observe(new TdxSanitisationMonitor(), [toHost(1, HPA), hostZero(2, HPA, "clear_page")]);
    expect(findings.map((f) => [f.invariant, f.evidence])).toEqual([[LEAVING, [1, 2]]]);
  });

  it("should report nothing when the host clears the frame first", () => {
    for (const why of ["tdx_clear_page", "MOVDIR64B", "tdx_reclaim_page"] as const) {
      const monitor = new TdxSanitisationMonitor();
      expect(
        observe(monitor, [
          toHost(1, HPA),
          hostZero(2, HPA, why),
          effect(3, { e: "read", by: "host/kvm", hpa: HPA, content: ZERO }),
          effect(4, { e: "write", by: "host/vmm", hpa: HPA, content: hostData("reuse") }),
        ]),
        why,
      ).toEqual([]);
      expect(finish(monitor), why).toEqual([]);
    }
  });

  it("should report at the end every frame released and never cleared", () => {
    const monitor = new TdxSanitisationMonitor();
    expect(observe(monitor, [toHost(3, HPA, 2), toHost(4, HPA + 0x10000, 1, "PT_EPT")])).toEqual([]);
    expect(finish(monitor)).toEqual([
      { invariant: LEAVING, responsible: "host", hpa: HPA, evidence: [3], detail: expect.any(String) },
      {
        invariant: LEAVING,
        responsible: "host",
        hpa: HPA + 0x1000,
        evidence: [3],
        detail: expect.any(String),
      },
      {
        invariant: LEAVING,
        responsible: "host",
        hpa: HPA + 0x10000,
        evidence: [4],
        detail: expect.any(String),
      },
    ]);
  });

  it("should forget a released frame that goes back to the TD", () => {
    const monitor = new TdxSanitisationMonitor();
    expect(observe(monitor, [toHost(1, HPA), toTd(2, HPA, 1, "PT_EPT")])).toEqual([]);
    expect(finish(monitor)).toEqual([]);
  });

  it("should blame the module when the guest reads a PT_REG frame ACCEPT never zeroed", () => {
    const findings = observe(new TdxSanitisationMonitor(), [
      toTd(1, HPA),
      effect(2, { e: "read", by: "guest/vcpu0", hpa: HPA, gpa: GPA, content: { k: "uninit" } }),
    ]);
    expect(findings).toEqual([
      {
        invariant: ENTERING,
        responsible: "fw",
        hpa: HPA,
        evidence: [1, 2],
        detail: "guest/vcpu0 read a frame the module never initialised",
      },
    ]);
  });

  it("should report nothing when ACCEPT zeroed the frame or PAGE.ADD filled it", () => {
    expect(
      observe(new TdxSanitisationMonitor(), [
        toTd(1, HPA),
        effect(2, {
          e: "zero",
          by: "fw",
          hpa: HPA,
          gpa: GPA,
          pages: 1,
          why: "TDG.MEM.PAGE.ACCEPT",
          keyId: 1,
        }),
        effect(3, { e: "read", by: "guest/vcpu0", hpa: HPA, gpa: GPA, content: ZERO }),
        toTd(4, HPA + 0x1000),
        effect(5, { e: "write", by: "fw", hpa: HPA + 0x1000, gpa: 0, content: { k: "image", tag: "boot" } }),
        effect(6, {
          e: "read",
          by: "guest/vcpu0",
          hpa: HPA + 0x1000,
          gpa: 0,
          content: { k: "image", tag: "boot" },
        }),
      ]),
    ).toEqual([]);
  });

  it("should not require ACCEPT for frames that are not guest memory (PT_EPT)", () => {
    expect(
      observe(new TdxSanitisationMonitor(), [
        toTd(1, HPA, 1, "PT_EPT"),
        effect(2, { e: "read", by: "guest/vcpu0", hpa: HPA, content: guestData("x") }),
      ]),
    ).toEqual([]);
  });

  it("should track every page of a 512-page release and clear", () => {
    const cleared = new TdxSanitisationMonitor();
    expect(observe(cleared, [toHost(1, HPA, 512), hostZero(2, HPA, "MOVDIR64B", 512)])).toEqual([]);
    expect(finish(cleared)).toEqual([]);

    const partly = new TdxSanitisationMonitor();
    const findings = observe(partly, [
      toHost(1, HPA, 512),
      hostZero(2, HPA, "MOVDIR64B", 511),
      effect(3, { e: "read", by: "host/kvm", hpa: HPA + 511 * 0x1000, content: ZERO }),
    ]);
    expect(findings.map((f) => [f.hpa, f.evidence])).toEqual([[HPA + 511 * 0x1000, [1, 3]]]);
    expect(finish(partly)).toEqual([]);

    const uncleared = new TdxSanitisationMonitor();
    observe(uncleared, [toHost(7, HPA, 512)]);
    const atEnd = finish(uncleared);
    expect(atEnd).toHaveLength(512);
    expect(atEnd.at(-1)).toMatchObject({ hpa: HPA + 511 * 0x1000, evidence: [7] });
  });

  it("should track every page of a 512-page assignment until a 2M ACCEPT zeroes it", () => {
    const last = HPA + 511 * 0x1000;
    const read = (seq: number) =>
      effect(seq, { e: "read", by: "guest/vcpu0", hpa: last, gpa: GPA + 511 * 0x1000, content: ZERO });
    const before = observe(new TdxSanitisationMonitor(), [toTd(1, HPA, 512), read(2)]);
    expect(before.map((f) => [f.invariant, f.hpa, f.evidence])).toEqual([[ENTERING, last, [1, 2]]]);
    expect(
      observe(new TdxSanitisationMonitor(), [
        toTd(1, HPA, 512),
        effect(2, {
          e: "zero",
          by: "fw",
          hpa: HPA,
          gpa: GPA,
          pages: 512,
          why: "TDG.MEM.PAGE.ACCEPT",
          keyId: 1,
        }),
        read(3),
      ]),
    ).toEqual([]);
  });
});
