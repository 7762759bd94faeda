// TD_CTLS.PENDING_VE_DISABLE and CONFIG_FLAGS.FLEXIBLE_PENDING_VE, against tdx-module 1.5
// (tdh_mng_init.c read_and_set_td_configurations(), metadata_td.c, td_ept_violation.c):
// status values written out from the module's tdx_api_defs / error codes, not read from ours.
import { describe, expect, it } from "vitest";
import { TdxModule } from "../../../actors/trusted/tdx/module.ts";
import { FrameStore } from "../../../src/hardware/frames.ts";
import { X86TdxHardware } from "../../../src/hardware/x86-tdx.ts";
import { PartyIO } from "../../../src/kit/outbox.ts";
import { SUCCESS } from "./harness.ts";

const METADATA_FIELD_NOT_WRITABLE = "0xc0000c0100000000";
const METADATA_FIELD_VALUE_NOT_VALID = "0xc0000c0300000000";

function td(septVeDisable: boolean, flexiblePendingVe: boolean) {
  const frames = new FrameStore();
  const io = new PartyIO();
  const m = new TdxModule(frames, io);
  m.create({ type: "TDH.MNG.CREATE", tdr: 0x100_0000, hkid: 3 });
  m.keyConfig();
  expect(m.init({ type: "TDH.MNG.INIT", septVeDisable, flexiblePendingVe, gpaWidth: 48 })).toBe(SUCCESS);
  return { m, cpu: new X86TdxHardware(frames, io, { hostReadMachineChecks: false }) };
}

const read = (m: TdxModule, field: "CONFIG_FLAGS" | "TD_CTLS") => m.vmRead({ type: "TDG.VM.RD", field });
const writeCtls = (m: TdxModule, value: number, mask = 1) =>
  m.vmWrite({ type: "TDG.VM.WR", field: "TD_CTLS", value, mask });

describe("TD_CTLS.PENDING_VE_DISABLE", () => {
  it("should be seeded from ATTRIBUTES.SEPT_VE_DISABLE at TDH.MNG.INIT", () => {
    expect(read(td(true, false).m, "TD_CTLS")).toEqual({ type: "TDG.VM.RD", status: SUCCESS, value: 1 });
    expect(read(td(false, false).m, "TD_CTLS").value).toBe(0);
    expect(read(td(false, true).m, "CONFIG_FLAGS").value).toBe(2);
    expect(read(td(false, false).m, "CONFIG_FLAGS").value).toBe(0);
  });

  it("should refuse a guest change of PENDING_VE_DISABLE without FLEXIBLE_PENDING_VE", () => {
    const { m } = td(false, false);
    expect(writeCtls(m, 1)).toBe(METADATA_FIELD_VALUE_NOT_VALID);
    expect(read(m, "TD_CTLS").value).toBe(0);
    // Writing the value it already has is allowed.
    expect(writeCtls(m, 0)).toBe(SUCCESS);
  });

  it("should let the guest set and clear it with FLEXIBLE_PENDING_VE", () => {
    const { m } = td(false, true);
    expect(writeCtls(m, 1)).toBe(SUCCESS);
    expect(read(m, "TD_CTLS").value).toBe(1);
    expect(writeCtls(m, 0)).toBe(SUCCESS);
    expect(read(m, "TD_CTLS").value).toBe(0);
  });

  it("should refuse writes to CONFIG_FLAGS (write mask 0) and masks without bit 0", () => {
    const { m } = td(false, true);
    expect(m.vmWrite({ type: "TDG.VM.WR", field: "CONFIG_FLAGS", value: 2, mask: 2 })).toBe(
      METADATA_FIELD_NOT_WRITABLE,
    );
    expect(writeCtls(m, 2, 2)).toBe(METADATA_FIELD_NOT_WRITABLE);
    // Bit 1 is outside the write mask: asking to change it is VALUE_NOT_VALID.
    expect(writeCtls(m, 3, 3)).toBe(METADATA_FIELD_VALUE_NOT_VALID);
  });

  it("should decide #VE or TD exit on a PENDING page from TD_CTLS, not the attribute", () => {
    const { m, cpu } = td(false, true);
    const gpa = 0x4000_0000;
    const pending = { state: "PENDING" as const, hpa: 0x2000_0000, level: 0 };
    const translation = {
      hkid: 3,
      sharedBit: 2 ** 47,
      get pendingVeDisable() {
        return m.pendingVeDisable;
      },
      leafFor: () => pending,
    };
    const before = cpu.guestAccess(translation, "guest/vcpu0", "read", gpa, undefined);
    expect(before).toEqual({ kind: "done", result: { result: "#VE", gpa, septState: "PENDING" } });
    writeCtls(m, 1);
    const after = cpu.guestAccess(translation, "guest/vcpu0", "read", gpa, undefined);
    expect(after).toEqual({
      kind: "exit",
      exit: { reason: "EPT_VIOLATION", gpa, private: true, write: false, eeq: "PENDING_EPT_VIOLATION" },
    });
    // A FREE private entry exits with no extended qualification.
    const free = cpu.guestAccess(
      { ...translation, leafFor: () => undefined },
      "guest/vcpu0",
      "read",
      gpa,
      undefined,
    );
    expect(free).toEqual({
      kind: "exit",
      exit: { reason: "EPT_VIOLATION", gpa, private: true, write: false },
    });
  });
});
