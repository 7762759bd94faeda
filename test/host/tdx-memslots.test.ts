// Memslots and the private fault path on a TD host (__kvm_set_memory_region(), kvm_gmem_bind(),
// kvm_mmu_faultin_pfn() in Linux 7.0): errnos from include/uapi/asm-generic/errno-base.h.
import { describe, expect, it } from "vitest";
import { GuestMemfd } from "../../actors/host/guest-memfd.ts";
import { type FaultResult, handleEptViolation } from "../../actors/host/tdx/faults.ts";
import { setMemoryRegion } from "../../actors/host/tdx/memslots.ts";
import type { TdxVm } from "../../actors/host/tdx/vm.ts";
import type { Flow } from "../../src/kit/flows.ts";
import { testTdxVm } from "./tdx-vm.ts";

const EBADF = -9;
const EEXIST = -17;
const EINVAL = -22;
const GUEST_MEMFD = 1 << 2;
const M = 0x100000;

function td(): TdxVm {
  const vm = testTdxVm();
  vm.gmem = new GuestMemfd(10, 16 * M);
  return vm;
}

/** Run a flow that must finish without sending anything; its result. */
function settle<T>(flow: Flow<T>): T {
  const step = flow.next();
  if (!step.done) throw new Error(`the flow sent ${JSON.stringify(step.value)}`);
  return step.value;
}

const region = (slot: number, gpa: number, size: number, flags = GUEST_MEMFD, offset = gpa, fd = 10) => ({
  slot,
  flags,
  guest_phys_addr: gpa,
  memory_size: size,
  guest_memfd: fd,
  guest_memfd_offset: offset,
});

describe("KVM_SET_USER_MEMORY_REGION2 on a TD", () => {
  it("should create slots and refuse overlaps, double bindings, bad files and changes", () => {
    const vm = td();
    expect(settle(setMemoryRegion(vm, region(0, 0, 8 * M)))).toBe(0);
    expect(settle(setMemoryRegion(vm, region(1, 4 * M, 8 * M, GUEST_MEMFD, 8 * M)))).toBe(EEXIST);
    expect(settle(setMemoryRegion(vm, region(1, 8 * M, 4 * M, GUEST_MEMFD, 0)))).toBe(EEXIST);
    expect(settle(setMemoryRegion(vm, region(1, 8 * M, 4 * M, GUEST_MEMFD, 8 * M, 11)))).toBe(EBADF);
    expect(settle(setMemoryRegion(vm, region(1, 8 * M, 12 * M, GUEST_MEMFD, 8 * M)))).toBe(EINVAL);
    expect(settle(setMemoryRegion(vm, region(0, 0, 4 * M)))).toBe(EINVAL);
    expect(settle(setMemoryRegion(vm, region(1, 8 * M, 4 * M, 0)))).toBe(0);
    expect(vm.slotFor(9 * M)?.gmemOffset).toBeUndefined();
    expect(vm.gmemOffset(3 * M)).toBe(3 * M);
  });

  it("should delete a slot; its GPA range then has no memslot", () => {
    const vm = td();
    settle(setMemoryRegion(vm, region(0, 0, 8 * M)));
    const flow = setMemoryRegion(vm, region(0, 0, 0));
    // The shared EPT zap of the slot's range is the one call when nothing private is mapped
    // (after taking and dropping mmu_lock to look for private leaves: nobody else holds it).
    let zap = flow.next();
    while (!zap.done && "lock" in zap.value) zap = flow.next();
    expect(zap.done ? undefined : zap.value).toEqual({
      to: "hw",
      msg: { type: "ept.zap", gpa: 2 ** 47, size: 8 * M },
    });
    expect(vm.slotFor(0)?.invalid).toBe(true);
    expect(flow.next({ type: "ept.zap", zapped: 0 })).toEqual({ done: true, value: 0 });
    expect(vm.slotFor(0)).toBeUndefined();
  });
});

describe("the private fault path, in kvm_mmu_faultin_pfn()'s order", () => {
  const fault = (vm: TdxVm, gpa: number): FaultResult =>
    settle(handleEptViolation(vm, { gpa, private: true }));
  const memoryFault = (gpa: number) => ({
    kind: "user",
    exit: { exit_reason: "KVM_EXIT_MEMORY_FAULT", gpa, size: 4096, private: true },
  });

  it("should exit to userspace for a private GFN outside every memslot", () => {
    const vm = td();
    vm.privateAttr.add(0, 16 * M);
    expect(fault(vm, 0x400123)).toEqual(memoryFault(0x400000));
  });

  it("should exit to userspace for a private GFN in a slot without guest_memfd", () => {
    const vm = td();
    vm.privateAttr.add(0, 16 * M);
    settle(setMemoryRegion(vm, region(0, 0, 16 * M, 0)));
    expect(fault(vm, 0x400000)).toEqual(memoryFault(0x400000));
  });

  it("should check the attribute before the memslot", () => {
    const vm = td();
    expect(fault(vm, 0x400000)).toEqual(memoryFault(0x400000));
  });

  it("should retry a fault in a slot being deleted", () => {
    const vm = td();
    vm.privateAttr.add(0, 16 * M);
    settle(setMemoryRegion(vm, region(0, 0, 16 * M)));
    vm.slotFor(0)!.invalid = true;
    expect(fault(vm, 0x400000)).toEqual({ kind: "resume" });
  });
});
