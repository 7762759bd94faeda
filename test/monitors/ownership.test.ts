import { describe, expect, it } from "vitest";
import type { Owner, PageState, SeptState } from "../../protocol/index.ts";
import { OwnershipMonitor } from "../../src/monitors/ownership.ts";
import { effect, observe } from "./lines.ts";

const HPA = 0x1_00a0_0000;
const GPA_A = 0x200000;
const GPA_B = 0x600000;
const ONE_OWNER = "one owner per physical page";
const ONE_GPA = "no physical page backs two private GPAs";

const owner = (seq: number, hpa: number, from: Owner, to: Owner, pages = 1) =>
  effect(seq, { e: "owner", by: "fw", hpa, pages, from, to, pageType: "PT_REG" });
const sept = (seq: number, gpa: number, from: SeptState, to: SeptState, hpa?: number, level: 0 | 1 = 0) =>
  effect(
    seq,
    hpa === undefined
      ? { e: "sept", by: "fw", gpa, level, from, to }
      : { e: "sept", by: "fw", gpa, level, from, to, hpa },
  );

describe("OwnershipMonitor", () => {
  it("should report a frame given to the TD twice", () => {
    const findings = observe(new OwnershipMonitor(), [
      owner(1, HPA, "host", "TD"),
      owner(2, HPA, "host", "TD"),
    ]);
    expect(findings).toEqual([
      {
        invariant: ONE_OWNER,
        responsible: "fw",
        hpa: HPA,
        evidence: [1, 2],
        detail: "a page already owned by the TD was assigned again",
      },
    ]);
  });

  it("should allow a frame to be given again once released to the host", () => {
    expect(
      observe(new OwnershipMonitor(), [
        owner(1, HPA, "host", "TD"),
        owner(2, HPA, "TD", "host"),
        owner(3, HPA, "host", "TD"),
      ]),
    ).toEqual([]);
  });

  it("should find the one overlapping frame when a 4K page lands inside an owned 2M page", () => {
    const findings = observe(new OwnershipMonitor(), [
      owner(1, HPA, "host", "TD", 512),
      owner(2, HPA + 0x5000, "host", "TD"),
    ]);
    expect(findings.map((f) => [f.invariant, f.hpa, f.evidence])).toEqual([
      [ONE_OWNER, HPA + 0x5000, [1, 2]],
    ]);
  });

  it("should report a frame mapped as a private leaf at two GPAs", () => {
    const findings = observe(new OwnershipMonitor(), [
      sept(1, GPA_A, "FREE", "PENDING", HPA),
      sept(2, GPA_B, "FREE", "PENDING", HPA),
    ]);
    expect(findings).toEqual([
      {
        invariant: ONE_GPA,
        responsible: "fw",
        gpa: GPA_B,
        hpa: HPA,
        evidence: [1, 2],
        detail: "frame already maps GPA 0x200000",
      },
    ]);
  });

  it("should allow the frame at another GPA once its leaf went back to FREE", () => {
    expect(
      observe(new OwnershipMonitor(), [
        sept(1, GPA_A, "FREE", "PENDING", HPA),
        sept(2, GPA_A, "PENDING", "MAPPED", HPA),
        sept(3, GPA_A, "MAPPED", "BLOCKED", HPA),
        sept(4, GPA_A, "BLOCKED", "FREE", HPA),
        sept(5, GPA_B, "FREE", "PENDING", HPA),
      ]),
    ).toEqual([]);
  });

  it("should allow the same GPA to be mapped again to the same frame", () => {
    expect(
      observe(new OwnershipMonitor(), [
        sept(1, GPA_A, "FREE", "PENDING", HPA),
        sept(2, GPA_A, "FREE", "MAPPED", HPA),
      ]),
    ).toEqual([]);
  });

  it("should cover all 512 frames of a 2M leaf", () => {
    const findings = observe(new OwnershipMonitor(), [
      sept(1, GPA_A, "FREE", "PENDING", HPA, 1),
      sept(2, GPA_B, "FREE", "PENDING", HPA + 0x3000),
    ]);
    expect(findings.map((f) => [f.invariant, f.gpa, f.hpa, f.evidence, f.detail])).toEqual([
      [ONE_GPA, GPA_B, HPA + 0x3000, [1, 2], `frame already maps GPA 0x${(GPA_A + 0x3000).toString(16)}`],
    ]);
  });

  it("should ignore non-leaf entries and entries without a frame", () => {
    expect(
      observe(new OwnershipMonitor(), [
        sept(1, GPA_A, "FREE", "NL_MAPPED"),
        sept(2, GPA_A, "FREE", "PENDING", HPA),
        sept(3, GPA_B, "FREE", "NL_MAPPED"),
        sept(4, GPA_B, "FREE", "PENDING"),
      ]),
    ).toEqual([]);
  });

  describe("a protected VM's stage-2 (pKVM)", () => {
    const stage2 = (seq: number, gpa: number, from: PageState, to: PageState) =>
      effect(seq, { e: "stage2", by: "fw", gpa, level: 0, from, to, hpa: HPA });

    it("should report a frame mapped at a second IPA while the first still holds it", () => {
      const findings = observe(new OwnershipMonitor(), [
        stage2(1, GPA_A, "PKVM_NOPAGE", "PKVM_PAGE_OWNED"),
        stage2(2, GPA_B, "PKVM_NOPAGE", "PKVM_PAGE_OWNED"),
      ]);
      expect(findings.map((f) => [f.invariant, f.responsible, f.gpa, f.hpa, f.evidence])).toEqual([
        [ONE_GPA, "fw", GPA_B, HPA, [1, 2]],
      ]);
    });

    it("should allow sharing in place and a new IPA once the first is gone", () => {
      expect(
        observe(new OwnershipMonitor(), [
          stage2(1, GPA_A, "PKVM_NOPAGE", "PKVM_PAGE_OWNED"),
          stage2(2, GPA_A, "PKVM_PAGE_OWNED", "PKVM_PAGE_SHARED_OWNED"),
          stage2(3, GPA_A, "PKVM_PAGE_SHARED_OWNED", "PKVM_PAGE_OWNED"),
          stage2(4, GPA_A, "PKVM_PAGE_OWNED", "PKVM_NOPAGE"),
          stage2(5, GPA_B, "PKVM_NOPAGE", "PKVM_PAGE_OWNED"),
        ]),
      ).toEqual([]);
    });
  });
});
