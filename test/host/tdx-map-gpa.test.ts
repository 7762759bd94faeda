// KVM's MapGPA handling (tdx_map_gpa(), tdx_complete_vmcall_map_gpa(), arch/x86/kvm/vmx/tdx.c,
// v7.0). Status values from arch/x86/include/asm/shared/tdx.h, written out here.
import { describe, expect, it } from "vitest";
import { continueMapGpa, startMapGpa } from "../../actors/host/tdx/map-gpa.ts";
import type { TdxVm } from "../../actors/host/tdx/vm.ts";
import { testTdxVm } from "./tdx-vm.ts";

const SUCCESS = "0x0000000000000000";
const RETRY = "0x0000000000000001";
const INVALID_OPERAND = "0x8000000000000000";
const ALIGN_ERROR = "0x8000000000000002";
const SUBFUNC_UNSUPPORTED = "0x8000000000000003";
const SHARED = 2 ** 47;

function vm(capEnabled = true): TdxVm {
  const td = testTdxVm();
  td.sharedBit = SHARED;
  if (capEnabled) td.exitHypercalls = 1 << 12;
  return td;
}

describe("KVM's MapGPA checks, in tdx_map_gpa()'s order", () => {
  it("should answer SUBFUNC_UNSUPPORTED when userspace did not enable KVM_CAP_EXIT_HYPERCALL", () => {
    expect(startMapGpa(vm(false), 0, 0x200000, 0x1000)).toEqual({
      vmcall: { status: SUBFUNC_UNSUPPORTED, retryGpa: 0x200000 },
    });
  });

  it("should refuse a range of size 0, past the GPA width, or straddling the shared bit", () => {
    const td = vm();
    for (const [gpa, size] of [
      [0x200000, 0],
      [SHARED * 2 - 0x1000, 0x2000],
      [SHARED - 0x1000, 0x2000],
    ] as const) {
      expect(startMapGpa(td, 0, gpa, size)).toEqual({ vmcall: { status: INVALID_OPERAND, retryGpa: gpa } });
    }
  });

  it("should check the range before the alignment", () => {
    const td = vm();
    expect(startMapGpa(td, 0, 0x200800, 0x1000)).toEqual({
      vmcall: { status: ALIGN_ERROR, retryGpa: 0x200800 },
    });
    expect(startMapGpa(td, 0, SHARED - 0x800, 0x1000)).toEqual({
      vmcall: { status: INVALID_OPERAND, retryGpa: SHARED - 0x800 },
    });
  });

  it("should not look at memslots: a range no memslot covers goes to the VMM", () => {
    const td = vm();
    expect(td.slots.size).toBe(0);
    expect(startMapGpa(td, 0, 0x4000_0000, 0x1000)).toEqual({
      exit: { exit_reason: "KVM_EXIT_HYPERCALL", nr: 12, gpa: 0x4000_0000, npages: 1, encrypted: true },
    });
  });
});

describe("KVM's MapGPA chunks", () => {
  it("should step 2M from an unaligned start and finish with SUCCESS", () => {
    const td = vm();
    const first = startMapGpa(td, 0, SHARED + 0x1000, 0x400000);
    expect(first).toEqual({
      exit: { exit_reason: "KVM_EXIT_HYPERCALL", nr: 12, gpa: 0x1000, npages: 512, encrypted: false },
    });
    const progress = td.mapGpa.get(0)!;
    expect(continueMapGpa(td, 0, progress, 0)).toEqual({
      exit: { exit_reason: "KVM_EXIT_HYPERCALL", nr: 12, gpa: 0x201000, npages: 512, encrypted: false },
    });
    expect(continueMapGpa(td, 0, progress, 0)).toEqual({ vmcall: { status: SUCCESS } });
    expect(td.mapGpa.has(0)).toBe(false);
  });

  it("should answer RETRY with the next GPA (shared bit included) when an event is pending between chunks", () => {
    const td = vm();
    startMapGpa(td, 0, SHARED, 0x400000);
    td.pendingEvent.add(0);
    expect(continueMapGpa(td, 0, td.mapGpa.get(0)!, 0)).toEqual({
      vmcall: { status: RETRY, retryGpa: SHARED + 0x200000 },
    });
  });

  it("should answer INVALID_OPERAND for any error from the VMM (7.0 has no -EAGAIN -> RETRY)", () => {
    for (const ret of [-11, -22, -1]) {
      const td = vm();
      startMapGpa(td, 0, 0x200000, 0x1000);
      expect(continueMapGpa(td, 0, td.mapGpa.get(0)!, ret)).toEqual({
        vmcall: { status: INVALID_OPERAND, retryGpa: 0x200000 },
      });
    }
  });
});
