// What takes a GFN's memory from one kind to the other on a TD host: KVM_SET_MEMORY_ATTRIBUTES
// (kvm_vm_set_mem_attributes() in virt/kvm/kvm_main.c) flips the private attribute and zaps the
// mappings of the kind it leaves; fallocate(PUNCH_HOLE) on guest_memfd (kvm_gmem_punch_hole() in
// virt/kvm/guest_memfd.c, v7.0) frees private pages. Both run under the invalidation sequence, so
// a fault racing them retries. Neither zeroes anything.
import {
  EBADF,
  EINVAL,
  EOPNOTSUPP,
  FALLOC_FL_KEEP_SIZE,
  FALLOC_PUNCH_HOLE,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
  PAGE_2M,
  PAGE_4K,
} from "../../../protocol/index.ts";
import { call, type Flow } from "../../../src/kit/flows.ts";
import { KVM, type TdxVm } from "./vm.ts";
import { invalidateBegin, invalidateEnd, zapRange } from "./zap.ts";

export function* setMemoryAttributes(
  vm: TdxVm,
  msg: { address: number; size: number; attributes: number; flags: number },
): Flow<number> {
  const { address, size, attributes, flags } = msg;
  if (flags !== 0 || size === 0 || address % PAGE_4K !== 0 || size % PAGE_4K !== 0) return EINVAL;
  if (attributes !== 0 && attributes !== KVM_MEMORY_ATTRIBUTE_PRIVATE) return EINVAL;
  const toPrivate = attributes === KVM_MEMORY_ATTRIBUTE_PRIVATE;
  const end = address + size;
  if (toPrivate ? vm.privateAttr.covers(address, end) : !vm.privateAttr.intersects(address, end)) return 0;
  // kvm_mmu_invalidate_begin(): faults in the range retry until the end.
  yield* invalidateBegin(vm, [[address, end]]);
  if (toPrivate) {
    vm.privateAttr.add(address, end);
    yield* call("hw", { type: "ept.zap", gpa: address + vm.sharedBit, size });
  } else {
    vm.privateAttr.remove(address, end);
    yield* zapRange(vm, address, end);
  }
  yield* invalidateEnd(vm);
  vm.effect({ e: "attr", by: KVM, gpa: address, size, private: toPrivate });
  return 0;
}

/** fallocate() on the guest_memfd: KEEP_SIZE allocates, PUNCH_HOLE|KEEP_SIZE zaps and frees. */
export function* fallocate(vm: TdxVm, fd: number, mode: number, offset: number, len: number): Flow<number> {
  const gmem = vm.gmem;
  if (!gmem || fd !== gmem.fd) return EBADF;
  if (offset % PAGE_4K !== 0 || len % PAGE_4K !== 0 || len === 0) return EINVAL;
  if (mode === FALLOC_FL_KEEP_SIZE) {
    if (offset + len > gmem.size) return EINVAL;
    for (let at = offset; at < offset + len; at += PAGE_4K) {
      if (!gmem.lookup(at)) gmem.insert(at, { hpa: vm.memory.alloc4K(), pages: 1, prepared: false });
    }
    return 0;
  }
  if (mode !== FALLOC_PUNCH_HOLE) return EOPNOTSUPP;
  // kvm_gmem_punch_hole(): invalidate and zap every GPA range a memslot binds to these offsets.
  const bound = vm.gpaRangesOf(offset, len);
  yield* invalidateBegin(vm, bound);
  for (const [start, end] of bound) yield* zapRange(vm, start, end);
  for (const [at, folio] of gmem.within(offset, len)) {
    if (folio.pages === 512 && (at < offset || at + PAGE_2M > offset + len)) continue; // partial 2M folio kept
    gmem.remove(at);
    if (!vm.leaked.has(folio.hpa)) vm.memory.free(folio.hpa, folio.pages);
    const gpa = vm.gpaRangesOf(at, PAGE_4K)[0]?.[0];
    vm.effect({
      e: "gmem",
      by: KVM,
      ...(gpa === undefined ? {} : { gpa }),
      hpa: folio.hpa,
      pages: folio.pages,
      op: "free",
    });
  }
  yield* invalidateEnd(vm);
  return 0;
}
