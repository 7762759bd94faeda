// Memslots on a TD host (__kvm_set_memory_region(), kvm_gmem_bind() in virt/kvm/kvm_main.c and
// guest_memfd.c, v7.0): GPA ranges with a shared backing and, optionally, a guest_memfd range for
// their private pages. Slots come and go while vCPUs run.
import { EBADF, EEXIST, EINVAL, KVM_MEM_GUEST_MEMFD, PAGE_4K } from "../../../protocol/index.ts";
import { call, type Flow } from "../../../src/kit/flows.ts";
import type { TdxVm } from "./vm.ts";
import { zapRange } from "./zap.ts";

/**
 * KVM_SET_USER_MEMORY_REGION2 (__kvm_set_memory_region(), virt/kvm/kvm_main.c): create a slot, or
 * delete one (memory_size 0) while vCPUs run: the slot is marked invalid so faults in it retry,
 * every mapping in it is zapped (kvm_arch_flush_shadow_memslot()), then it is gone. guest_memfd
 * slots are immutable ("they can only be deleted"); moving any slot is not modelled (EINVAL).
 */
export function* setMemoryRegion(
  vm: TdxVm,
  msg: {
    slot: number;
    flags: number;
    guest_phys_addr: number;
    memory_size: number;
    guest_memfd: number;
    guest_memfd_offset: number;
  },
): Flow<number> {
  const existing = vm.slots.get(msg.slot);
  if (existing) {
    if (msg.memory_size !== 0) return EINVAL;
    existing.invalid = true;
    const end = existing.gpa + existing.size;
    yield* zapRange(vm, existing.gpa, end);
    yield* call("hw", { type: "ept.zap", gpa: existing.gpa + vm.sharedBit, size: existing.size });
    vm.slots.delete(msg.slot);
    return 0;
  }
  const { guest_phys_addr: gpa, memory_size: size } = msg;
  if (size === 0 || size % PAGE_4K !== 0 || gpa % PAGE_4K !== 0) return EINVAL;
  if ((msg.flags & ~KVM_MEM_GUEST_MEMFD) !== 0) return EINVAL;
  for (const other of vm.slots.values())
    if (gpa < other.gpa + other.size && other.gpa < gpa + size) return EEXIST;
  if ((msg.flags & KVM_MEM_GUEST_MEMFD) === 0) {
    vm.slots.set(msg.slot, { id: msg.slot, gpa, size, gmemOffset: undefined, invalid: false });
    return 0;
  }
  // kvm_gmem_bind(): the file must be ours, the range inside it and bound to no other slot.
  if (!vm.gmem || msg.guest_memfd !== vm.gmem.fd) return EBADF;
  const offset = msg.guest_memfd_offset;
  if (offset % PAGE_4K !== 0 || offset + size > vm.gmem.size) return EINVAL;
  if (vm.gpaRangesOf(offset, size).length > 0) return EEXIST;
  vm.slots.set(msg.slot, { id: msg.slot, gpa, size, gmemOffset: offset, invalid: false });
  return 0;
}
