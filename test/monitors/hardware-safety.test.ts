import { describe, expect, it } from "vitest";
import { HardwareSafetyMonitor } from "../../src/monitors/hardware-safety.ts";
import { effect, observe } from "./lines.ts";

const HPA = 0x1_0080_0000;

describe("HardwareSafetyMonitor", () => {
  it("should blame the host for a machine check it took", () => {
    const findings = observe(new HardwareSafetyMonitor(), [
      effect(9, { e: "mc", by: "host/kvm", hpa: HPA, detail: "read of a private line" }),
    ]);
    expect(findings).toEqual([
      {
        invariant: "the host never takes a machine check",
        responsible: "host",
        hpa: HPA,
        evidence: [9],
        detail: "host/kvm: read of a private line",
      },
    ]);
  });

  it("should report each host machine check, from the VMM too", () => {
    const findings = observe(new HardwareSafetyMonitor(), [
      effect(1, { e: "mc", by: "host/vmm", hpa: HPA, detail: "poison" }),
      effect(2, { e: "mc", by: "host/kvm", hpa: HPA + 0x1000, detail: "poison" }),
    ]);
    expect(findings.map((f) => [f.responsible, f.hpa, f.evidence])).toEqual([
      ["host", HPA, [1]],
      ["host", HPA + 0x1000, [2]],
    ]);
  });

  it("should report nothing for a machine check in the guest", () => {
    expect(
      observe(new HardwareSafetyMonitor(), [
        effect(1, { e: "mc", by: "guest/vcpu0", hpa: HPA, detail: "TD consumed poison" }),
      ]),
    ).toEqual([]);
  });

  it("should report nothing for poison the host left but did not consume", () => {
    expect(
      observe(new HardwareSafetyMonitor(), [
        effect(1, { e: "poison", by: "host/kvm", hpa: HPA, detail: "clear_page over private lines" }),
      ]),
    ).toEqual([]);
  });
});
