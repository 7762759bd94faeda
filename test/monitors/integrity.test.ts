import { describe, expect, it } from "vitest";
import { IntegrityMonitor } from "../../src/monitors/integrity.ts";
import { effect, guestData, hostData, mapGpa, observe, SHARED_48, vpInfo, ZERO } from "./lines.ts";

const GPA = 0x200000;
const HPA = 0x1_0040_0000;
const ACCEPT = "TDG.MEM.PAGE.ACCEPT";

const acceptZero = (seq: number, gpa: number, hpa: number, pages = 1) =>
  effect(seq, { e: "zero", by: "fw", hpa, gpa, pages, why: ACCEPT, keyId: 1 });

describe("IntegrityMonitor", () => {
  it("should report nothing when the guest reads back what it wrote", () => {
    expect(
      observe(new IntegrityMonitor("tdx"), [
        vpInfo(1, 48),
        acceptZero(2, GPA, HPA),
        effect(3, { e: "write", by: "guest/vcpu0", hpa: HPA, gpa: GPA, content: guestData("a", true) }),
        effect(4, { e: "read", by: "guest/vcpu0", hpa: HPA, gpa: GPA, content: guestData("a", true) }),
      ]),
    ).toEqual([]);
  });

  it("should report nothing for a zero read after a 2M accept, on any of its 512 pages", () => {
    expect(
      observe(new IntegrityMonitor("tdx"), [
        acceptZero(1, GPA, HPA, 512),
        effect(2, { e: "read", by: "guest/vcpu0", hpa: HPA, gpa: GPA, content: ZERO }),
        effect(3, {
          e: "read",
          by: "guest/vcpu0",
          hpa: HPA + 511 * 0x1000,
          gpa: GPA + 511 * 0x1000 + 0x10,
          content: ZERO,
        }),
      ]),
    ).toEqual([]);
  });

  it("should report nothing when the guest reads its initial image", () => {
    expect(
      observe(new IntegrityMonitor("tdx"), [
        effect(1, { e: "write", by: "fw", hpa: HPA, gpa: 0, content: { k: "image", tag: "boot" } }),
        effect(2, { e: "read", by: "guest/vcpu0", hpa: HPA, gpa: 0, content: { k: "image", tag: "boot" } }),
      ]),
    ).toEqual([]);
  });

  it("should blame the guest for a silent zero page: data replaced and re-accepted behind its back", () => {
    const findings = observe(new IntegrityMonitor("tdx"), [
      vpInfo(1, 48),
      acceptZero(2, GPA, HPA),
      effect(3, { e: "write", by: "guest/vcpu0", hpa: HPA, gpa: GPA, content: guestData("a", true) }),
      acceptZero(4, GPA, HPA + 0x1000),
      effect(5, { e: "read", by: "guest/vcpu0", hpa: HPA + 0x1000, gpa: GPA, content: ZERO }),
    ]);
    expect(findings).toEqual([
      {
        invariant: "no silent zero page",
        responsible: "guest",
        gpa: GPA,
        hpa: HPA + 0x1000,
        evidence: [3, 5],
        detail: "read zero, expected guest:a(secret)",
      },
    ]);
  });

  it("should blame the trusted side when a private read returns host data", () => {
    const findings = observe(new IntegrityMonitor("tdx"), [
      vpInfo(1, 48),
      effect(2, { e: "read", by: "guest/vcpu0", hpa: HPA, gpa: GPA, content: hostData("evil") }),
    ]);
    expect(findings).toEqual([
      {
        invariant: "guest reads what it wrote",
        responsible: "fw",
        gpa: GPA,
        hpa: HPA,
        evidence: [2],
        detail: "read host:evil, expected nothing readable",
      },
    ]);
  });

  it("should blame the trusted side when host data replaces what the guest wrote", () => {
    const findings = observe(new IntegrityMonitor("tdx"), [
      acceptZero(1, GPA, HPA),
      effect(2, { e: "write", by: "guest/vcpu0", hpa: HPA, gpa: GPA, content: guestData("a") }),
      effect(3, { e: "read", by: "guest/vcpu0", hpa: HPA, gpa: GPA, content: hostData("evil") }),
    ]);
    expect(findings.map((f) => [f.invariant, f.responsible, f.evidence])).toEqual([
      ["guest reads what it wrote", "fw", [2, 3]],
    ]);
  });

  it("should not treat a zero from another source (a host clear) as a legitimate accept", () => {
    const findings = observe(new IntegrityMonitor("tdx"), [
      effect(1, { e: "zero", by: "host/kvm", hpa: HPA, gpa: GPA, pages: 1, why: "MOVDIR64B", keyId: 0 }),
      effect(2, { e: "read", by: "guest/vcpu0", hpa: HPA, gpa: GPA, content: ZERO }),
    ]);
    expect(findings.map((f) => [f.invariant, f.responsible, f.evidence])).toEqual([
      ["guest reads what it wrote", "fw", [2]],
    ]);
  });

  it("should accept a zero again after the guest converted the page (Linux order: MapGPA, accept, PTEs)", () => {
    const monitor = new IntegrityMonitor("tdx");
    expect(
      observe(monitor, [
        vpInfo(1, 48),
        acceptZero(2, GPA, HPA),
        effect(3, { e: "write", by: "guest/vcpu0", hpa: HPA, gpa: GPA, content: guestData("a", true) }),
        effect(4, { e: "guest-view", by: "guest/vcpu0", gpa: GPA, size: 0x1000, view: "shared" }),
        mapGpa(5, SHARED_48 + GPA, 0x1000),
        mapGpa(6, GPA, 0x1000),
        acceptZero(7, GPA, HPA + 0x1000),
        effect(8, { e: "guest-view", by: "guest/vcpu0", gpa: GPA, size: 0x1000, view: "private" }),
        effect(9, { e: "read", by: "guest/vcpu0", hpa: HPA + 0x1000, gpa: GPA, content: ZERO }),
      ]),
    ).toEqual([]);
  });

  it("should still call a zero silent when the page was replaced without the guest converting it", () => {
    const findings = observe(new IntegrityMonitor("tdx"), [
      vpInfo(1, 48),
      acceptZero(2, GPA, HPA),
      effect(3, { e: "write", by: "guest/vcpu0", hpa: HPA, gpa: GPA, content: guestData("a", true) }),
      effect(4, { e: "guest-view", by: "guest/vcpu0", gpa: GPA, size: 0x1000, view: "private" }),
      acceptZero(5, GPA, HPA + 0x1000),
      effect(6, { e: "read", by: "guest/vcpu0", hpa: HPA + 0x1000, gpa: GPA, content: ZERO }),
    ]);
    expect(findings.map((f) => f.invariant)).toEqual(["no silent zero page"]);
  });

  it("should only forget the pages the guest's MapGPA covers", () => {
    const findings = observe(new IntegrityMonitor("tdx"), [
      acceptZero(1, GPA, HPA, 2),
      effect(2, { e: "write", by: "guest/vcpu0", hpa: HPA, gpa: GPA, content: guestData("a") }),
      effect(3, {
        e: "write",
        by: "guest/vcpu0",
        hpa: HPA + 0x1000,
        gpa: GPA + 0x1000,
        content: guestData("b"),
      }),
      mapGpa(4, GPA, 0x1000),
      acceptZero(5, GPA, HPA + 0x2000, 2),
      effect(6, { e: "read", by: "guest/vcpu0", hpa: HPA + 0x2000, gpa: GPA, content: ZERO }),
      effect(7, { e: "read", by: "guest/vcpu0", hpa: HPA + 0x3000, gpa: GPA + 0x1000, content: ZERO }),
    ]);
    expect(findings.map((f) => [f.invariant, f.gpa, f.evidence])).toEqual([
      ["no silent zero page", GPA + 0x1000, [3, 7]],
    ]);
  });

  it("should never check a read through a shared GPA", () => {
    expect(
      observe(new IntegrityMonitor("tdx"), [
        vpInfo(1, 48),
        acceptZero(2, GPA, HPA),
        effect(3, { e: "write", by: "guest/vcpu0", hpa: HPA, gpa: GPA, content: guestData("a") }),
        effect(4, { e: "read", by: "guest/vcpu0", hpa: HPA + 0x5000, gpa: SHARED_48 + GPA, content: ZERO }),
        effect(5, {
          e: "read",
          by: "guest/vcpu0",
          hpa: HPA + 0x5000,
          gpa: SHARED_48 + GPA,
          content: hostData("d"),
        }),
      ]),
    ).toEqual([]);
  });

  it("should check that same address as private when TDG.VP.INFO says GPAW 52", () => {
    const findings = observe(new IntegrityMonitor("tdx"), [
      vpInfo(1, 52),
      effect(2, { e: "read", by: "guest/vcpu0", hpa: HPA, gpa: SHARED_48 + GPA, content: hostData("d") }),
    ]);
    expect(findings.map((f) => [f.invariant, f.responsible])).toEqual([["guest reads what it wrote", "fw"]]);
  });

  it("should ignore reads by the host or the module", () => {
    expect(
      observe(new IntegrityMonitor("tdx"), [
        effect(1, { e: "read", by: "host/vmm", hpa: HPA, gpa: GPA, content: hostData("d") }),
        effect(2, { e: "read", by: "fw", hpa: HPA, gpa: GPA, content: { k: "uninit" } }),
      ]),
    ).toEqual([]);
  });

  // Contents may arrive serialised in another field order (another process, a plug-in).
  it("should treat the same content with its fields in another order as the same", () => {
    const findings = observe(new IntegrityMonitor("tdx"), [
      acceptZero(1, GPA, HPA),
      effect(2, { e: "write", by: "guest/vcpu0", hpa: HPA, gpa: GPA, content: guestData("a", true) }),
      effect(3, {
        e: "read",
        by: "guest/vcpu0",
        hpa: HPA,
        gpa: GPA,
        content: { secret: true, tag: "a", writer: "guest", k: "data" },
      }),
    ]);
    expect(findings).toEqual([]);
  });
});
