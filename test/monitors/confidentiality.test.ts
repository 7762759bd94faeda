import { describe, expect, it } from "vitest";
import { ConfidentialityMonitor } from "../../src/monitors/confidentiality.ts";
import { effect, guestData, hostData, observe, SHARED_48, vpInfo } from "./lines.ts";

const GPA = 0x200000;
const HPA = 0x1_0020_0000;
const INVARIANT = "no guest secret reaches the host";

describe("ConfidentialityMonitor", () => {
  it("should blame the guest for a secret it wrote through a shared GPA and the VMM read", () => {
    const findings = observe(new ConfidentialityMonitor(), [
      vpInfo(1, 48),
      effect(2, {
        e: "write",
        by: "guest/vcpu0",
        hpa: HPA,
        gpa: SHARED_48 + GPA,
        content: guestData("key", true),
      }),
      effect(3, { e: "read", by: "host/vmm", hpa: HPA, content: guestData("key", true) }),
    ]);
    expect(findings).toEqual([
      {
        invariant: INVARIANT,
        responsible: "guest",
        hpa: HPA,
        evidence: [2, 3],
        detail: expect.stringContaining("the guest left in shared memory"),
      },
    ]);
  });

  it("should blame the trusted side when a secret written through a private GPA reaches the host", () => {
    const findings = observe(new ConfidentialityMonitor(), [
      vpInfo(1, 48),
      effect(2, { e: "write", by: "guest/vcpu0", hpa: HPA, gpa: GPA, content: guestData("key", true) }),
      effect(3, { e: "read", by: "host/kvm", hpa: HPA, content: guestData("key", true) }),
    ]);
    expect(findings).toEqual([
      {
        invariant: INVARIANT,
        responsible: "fw",
        hpa: HPA,
        evidence: [2, 3],
        detail: expect.stringContaining("not scrubbed"),
      },
    ]);
  });

  it("should learn the shared bit from TDG.VP.INFO (GPAW 52: bit 47 is a private address bit)", () => {
    const findings = observe(new ConfidentialityMonitor(), [
      vpInfo(1, 52),
      effect(2, {
        e: "write",
        by: "guest/vcpu0",
        hpa: HPA,
        gpa: SHARED_48 + GPA,
        content: guestData("k", true),
      }),
      effect(3, { e: "read", by: "host/vmm", hpa: HPA, content: guestData("k", true) }),
    ]);
    expect(findings.map((f) => [f.responsible, f.evidence])).toEqual([["fw", [2, 3]]]);
  });

  it("should match the secret's frame when the host reads inside the page", () => {
    const findings = observe(new ConfidentialityMonitor(), [
      effect(1, {
        e: "write",
        by: "guest/vcpu1",
        hpa: HPA,
        gpa: SHARED_48 + GPA,
        content: guestData("k", true),
      }),
      effect(2, { e: "read", by: "host/vmm", hpa: HPA + 0x800, content: guestData("k", true) }),
    ]);
    expect(findings.map((f) => [f.responsible, f.hpa, f.evidence])).toEqual([["guest", HPA + 0x800, [1, 2]]]);
  });

  it("should blame the trusted side with the read alone when no guest write of the secret was seen", () => {
    const findings = observe(new ConfidentialityMonitor(), [
      effect(5, { e: "read", by: "host/kvm", hpa: HPA, content: guestData("k", true) }),
    ]);
    expect(findings.map((f) => [f.responsible, f.evidence])).toEqual([["fw", [5]]]);
  });

  it("should report nothing when the host reads ciphertext", () => {
    expect(
      observe(new ConfidentialityMonitor(), [
        effect(1, { e: "write", by: "guest/vcpu0", hpa: HPA, gpa: GPA, content: guestData("k", true) }),
        effect(2, { e: "read", by: "host/vmm", hpa: HPA, content: { k: "ciphertext", keyId: 1 } }),
      ]),
    ).toEqual([]);
  });

  it("should report nothing for non-secret data, even through a shared GPA", () => {
    expect(
      observe(new ConfidentialityMonitor(), [
        effect(1, {
          e: "write",
          by: "guest/vcpu0",
          hpa: HPA,
          gpa: SHARED_48 + GPA,
          content: guestData("pub"),
        }),
        effect(2, { e: "read", by: "host/vmm", hpa: HPA, content: guestData("pub") }),
        effect(3, { e: "read", by: "host/vmm", hpa: HPA, content: hostData("dma") }),
      ]),
    ).toEqual([]);
  });

  it("should report nothing when the guest or the module reads the secret", () => {
    expect(
      observe(new ConfidentialityMonitor(), [
        effect(1, { e: "write", by: "guest/vcpu0", hpa: HPA, gpa: GPA, content: guestData("k", true) }),
        effect(2, { e: "read", by: "guest/vcpu0", hpa: HPA, gpa: GPA, content: guestData("k", true) }),
        effect(3, { e: "read", by: "fw", hpa: HPA, content: guestData("k", true) }),
      ]),
    ).toEqual([]);
  });
});
