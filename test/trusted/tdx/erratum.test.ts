// X86_BUG_TDX_PW_MCE (Sapphire and Emerald Rapids): a partial write to a private line with a
// non-TD key poisons it, so KVM resets every page it takes back with MOVDIR64B
// (tdx_quirk_reset_page() -> tdx_quirk_reset_paddr(), arch/x86/virt/vmx/tdx/tdx.c: a no-op without
// the bug). Without the erratum the host's stores just overwrite and KVM clears nothing.
import { describe, expect, it } from "vitest";
import type { Effect } from "../../../protocol/index.ts";
import { FrameStore } from "../../../src/hardware/frames.ts";
import { X86TdxHardware } from "../../../src/hardware/x86-tdx.ts";
import { PartyIO } from "../../../src/kit/outbox.ts";
import { runScenario } from "../../../src/run/run.ts";
import { defineScenario } from "../../../src/scenarios/define.ts";
import { findBuiltIn } from "../../../src/scenarios/index.ts";

const HPA = 0x1_0000_0000;

function hostWriteToPrivate(partialWriteErratum: boolean) {
  const frames = new FrameStore();
  const io = new PartyIO();
  const cpu = new X86TdxHardware(frames, io, { hostReadMachineChecks: false, partialWriteErratum });
  frames.set(HPA / 0x1000, {
    content: { k: "data", writer: "guest", tag: "s", secret: true },
    keyId: 3,
    poisoned: false,
  });
  cpu.hostAccess("host/kvm", "write", HPA, { k: "data", writer: "host", tag: "x", secret: false });
  return { frame: frames.get(HPA / 0x1000), effects: io.drain().effects.map((e: Effect) => e.e) };
}

describe("a host partial write to a private line", () => {
  it("should poison it on an erratum part", () => {
    const { frame, effects } = hostWriteToPrivate(true);
    expect(frame.poisoned).toBe(true);
    expect(effects).toEqual(["poison", "write"]);
  });

  it("should just overwrite it (TD bit cleared) without the erratum", () => {
    const { frame, effects } = hostWriteToPrivate(false);
    expect([frame.poisoned, frame.keyId]).toEqual([false, 0]);
    expect(effects).toEqual(["write"]);
  });
});

describe("KVM taking pages back from a TD", () => {
  const teardown = findBuiltIn("tdx/teardown")!;
  const movdir64b = (log: Awaited<ReturnType<typeof runScenario>>["log"]) =>
    log.filter(
      (l) =>
        l.type === "msg" &&
        l.kind === "request" &&
        l.msg.type === "host.access" &&
        "op" in l.msg &&
        l.msg.op === "movdir64b",
    ).length;

  it("should clear every page it takes back on an erratum part", async () => {
    const run = await runScenario(teardown);
    expect(run.result.outcome).toBe("completed");
    expect(movdir64b(run.log)).toBeGreaterThan(0);
  });

  it("should clear nothing without the erratum, and owe nothing", async () => {
    const spec = { ...teardown.spec, host: { ...teardown.spec.host, partialWriteErratum: false } };
    const run = await runScenario(defineScenario(spec));
    expect(run.result.outcome).toBe("completed");
    expect(run.result.violations).toEqual([]);
    expect(movdir64b(run.log)).toBe(0);
  });
});
