// The pKVM sanitisation contract: a page a protected guest owned is zeroed by the hypervisor
// (hyp_poison_page) before the host gets it back; a page the guest had shared goes back as it is;
// donation zeroes nothing and that is not this monitor's finding (the guest answers for trusting it).
import { describe, expect, it } from "vitest";
import type { PageState } from "../../protocol/index.ts";
import { PkvmSanitisationMonitor } from "../../src/monitors/sanitisation-pkvm.ts";
import { effect, guestData, observe, ZERO } from "./lines.ts";

const HPA = 0x8_0000_0000;
const GPA = 0x100000;
const INVARIANT = "a guest-owned page is zeroed by the hypervisor before the host gets it back";

const donate = (seq: number, hpa = HPA) =>
  effect(seq, { e: "owner", by: "fw", hpa, pages: 1, from: "host", to: "guest" });
const giveBack = (seq: number, guestState: PageState, hpa = HPA) =>
  effect(seq, { e: "owner", by: "fw", hpa, pages: 1, from: "guest", to: "host", guestState });
const guestWrite = (seq: number, hpa = HPA) =>
  effect(seq, { e: "write", by: "guest/vcpu0", hpa, gpa: GPA, content: guestData("secret", true) });
const poison = (seq: number, hpa = HPA) =>
  effect(seq, {
    e: "zero",
    by: "fw",
    hpa,
    gpa: GPA,
    pages: 1,
    why: "hyp_poison_page (__pkvm_reclaim_dying_guest_page)",
    keyId: 0,
  });

describe("PkvmSanitisationMonitor", () => {
  it("should blame the hypervisor for a guest-owned page returned without being zeroed", () => {
    const findings = observe(new PkvmSanitisationMonitor(), [
      donate(1),
      guestWrite(2),
      giveBack(3, "PKVM_PAGE_OWNED"),
    ]);
    expect(findings).toEqual([
      {
        invariant: INVARIANT,
        responsible: "fw",
        hpa: HPA,
        evidence: [2, 3],
        detail: "returned to the host without hyp_poison_page",
      },
    ]);
  });

  it("should blame it even when the guest never wrote: the donated contents are the guest's now", () => {
    const findings = observe(new PkvmSanitisationMonitor(), [donate(1), giveBack(2, "PKVM_PAGE_OWNED")]);
    expect(findings.map((f) => [f.invariant, f.responsible, f.evidence])).toEqual([
      [INVARIANT, "fw", [1, 2]],
    ]);
  });

  it("should report nothing when the hypervisor poisons the page first", () => {
    expect(
      observe(new PkvmSanitisationMonitor(), [
        donate(1),
        guestWrite(2),
        poison(3),
        giveBack(4, "PKVM_PAGE_OWNED"),
      ]),
    ).toEqual([]);
  });

  it("should not count a zeroing by anyone but the hypervisor", () => {
    const guestZero = effect(3, { e: "write", by: "guest/vcpu0", hpa: HPA, gpa: GPA, content: ZERO });
    const hostZero = effect(4, {
      e: "zero",
      by: "host/kvm",
      hpa: HPA,
      pages: 1,
      why: "clear_page",
      keyId: 0,
    });
    const findings = observe(new PkvmSanitisationMonitor(), [
      donate(1),
      guestWrite(2),
      guestZero,
      hostZero,
      giveBack(5, "PKVM_PAGE_OWNED"),
    ]);
    expect(findings.map((f) => f.evidence)).toEqual([[3, 5]]);
  });

  it("should let a page the guest had shared go back as it is", () => {
    expect(
      observe(new PkvmSanitisationMonitor(), [
        donate(1),
        guestWrite(2),
        giveBack(3, "PKVM_PAGE_SHARED_OWNED"),
      ]),
    ).toEqual([]);
  });

  it("should judge a write after the poisoning afresh", () => {
    const findings = observe(new PkvmSanitisationMonitor(), [
      donate(1),
      poison(2),
      guestWrite(3),
      giveBack(4, "PKVM_PAGE_OWNED"),
    ]);
    expect(findings.map((f) => f.evidence)).toEqual([[3, 4]]);
  });

  it("should keep frames apart", () => {
    const other = HPA + 0x1000;
    const findings = observe(new PkvmSanitisationMonitor(), [
      donate(1),
      donate(2, other),
      poison(3),
      giveBack(4, "PKVM_PAGE_OWNED"),
      giveBack(5, "PKVM_PAGE_OWNED", other),
    ]);
    expect(findings.map((f) => f.hpa)).toEqual([other]);
  });
});
