// Taking private memory away from a TD (tdx_sept_remove_private_spte(), tdx_track(),
// tdh_do_no_vcpus() in arch/x86/kvm/vmx/tdx.c, v7.0): BLOCK the leaf, TRACK and kick every vCPU so
// the old TLB epoch drains, REMOVE it, then WBINVD and clear the page before reuse. A SEAMCALL
// that answers TDX_OPERAND_BUSY is issued once more with every vCPU held out of the guest; any
// other error is TDX_BUG_ON(): the VM is bugged (dead) and the page is leaked, never reused.
// Splitting a 2M leaf (DEMOTE) follows the huge-page RFC. Every zap holds kvm->mmu_lock for write
// (tdx_sept_remove_private_spte() and tdx_track() assert it), so zaps, and their TRACKs, never race.
import {
  isTdxSuccess,
  type Level,
  PAGE_2M,
  PAGE_4K,
  type Request,
  type Response,
  tdxStatusIs,
  type U64,
} from "../../../protocol/index.ts";
import { call, type Flow, lock } from "../../../src/kit/flows.ts";
import type { PageMap } from "../../../src/kit/page-map.ts";
import { killVm } from "../lifecycle.ts";
import { align, idx2M, KVM, pagesOf, resetsPages, type TdxVm } from "./vm.ts";

/** tdx_operand_busy(): TDX_OPERAND_BUSY with any operand id. */
export const operandBusy = (status: U64): boolean => tdxStatusIs(status, "TDX_OPERAND_BUSY");

/** Held while a zap reissues a SEAMCALL: vCPUs wait instead of entering (wait_for_sept_zap). */
export const SEPT_ZAP_LOCK = "wait_for_sept_zap";

/**
 * tdh_do_no_vcpus(): the SEAMCALL; on TDX_OPERAND_BUSY, keep every vCPU out of the guest, kick
 * them (KVM_REQ_OUTSIDE_GUEST_MODE) and issue it once more. The last answer.
 */
export function* withNoVcpus<M extends Request>(
  vm: TdxVm,
  msg: M,
): Flow<Response<M["type"]> & { status: U64 }> {
  type R = Response<M["type"]> & { status: U64 };
  const first = (yield* call("fw", msg)) as R;
  if (!operandBusy(first.status)) return first;
  yield* lock(SEPT_ZAP_LOCK);
  try {
    yield* kickAll(vm);
    return (yield* call("fw", msg)) as R;
  } finally {
    vm.tasks.unlock(SEPT_ZAP_LOCK);
  }
}

/** Kick every vCPU out of the guest; one that was running owes itself a pending event. */
function* kickAll(vm: TdxVm): Flow<void> {
  for (let vcpu = 0; vcpu < vm.vcpus; vcpu++) {
    const r = yield* call("hw", { type: "vcpu.kick", vcpu });
    if (r.wasRunning) vm.pendingEvent.add(vcpu);
  }
}

/**
 * TDX_BUG_ON(): WARN, kvm_vm_bugged() (every vCPU and VM ioctl now fails with -EIO), and the
 * page the SEAMCALL was about stays where it is: KVM never frees or reuses it.
 */
export function bugVm(vm: TdxVm, seamcall: string, status: U64, gpa?: number, hpa?: number): void {
  killVm(vm, `SEAMCALL ${seamcall} failed: ${status}`);
  if (hpa === undefined) return;
  vm.leaked.add(hpa);
  vm.effect({
    e: "fault",
    by: KVM,
    kind: "leaked",
    hpa,
    ...(gpa === undefined ? {} : { gpa }),
    detail: `${seamcall} failed: the page stays with the TD`,
  });
}

/** tdx_track(): only once the TD is runnable; TDH.MEM.TRACK, then kick every vCPU. */
export function* track(vm: TdxVm): Flow<void> {
  if (!vm.finalized) return;
  const r = yield* withNoVcpus(vm, { type: "TDH.MEM.TRACK" });
  if (!isTdxSuccess(r.status)) bugVm(vm, "TDH_MEM_TRACK", r.status);
  yield* kickAll(vm);
}

/** After a REMOVE: write back the page's cache lines (WBINVD) and clear it before any reuse. */
export function* clearRemoved(vm: TdxVm, gpa: number, hpa: number, level: Level): Flow<boolean> {
  const pages = pagesOf(level);
  for (let i = 0; i < pages; i++) {
    const r = yield* call("fw", { type: "TDH.PHYMEM.PAGE.WBINVD", hpa: hpa + i * PAGE_4K });
    if (!isTdxSuccess(r.status)) {
      bugVm(vm, "TDH_PHYMEM_PAGE_WBINVD", r.status, gpa, hpa);
      return false;
    }
  }
  // tdx_quirk_reset_page(): erratum parts need full-line writes to clear poison and the TD bit.
  if (resetsPages(vm))
    yield* call("hw", { type: "host.access", op: "movdir64b", hpa, pages, why: "tdx_clear_page" });
  return true;
}

/** tdx_sept_remove_private_spte(): BLOCK -> TRACK -> REMOVE -> WBINVD -> clear. */
export function* zapLeaf(vm: TdxVm, gpa: number, level: Level): Flow<void> {
  const mirror = level === 1 ? vm.mirror2M : vm.mirror4K;
  const hpa = mirror.get(gpa);
  if (hpa === undefined) return;
  // remove_external_spte() drops the mirror SPTE whatever the S-EPT answers.
  mirror.delete(gpa);
  const blocked = yield* withNoVcpus(vm, { type: "TDH.MEM.RANGE.BLOCK", gpa, level });
  if (!isTdxSuccess(blocked.status)) return bugVm(vm, "TDH_MEM_RANGE_BLOCK", blocked.status, gpa, hpa);
  yield* track(vm);
  const removed = yield* withNoVcpus(vm, { type: "TDH.MEM.PAGE.REMOVE", gpa, level });
  if (!isTdxSuccess(removed.status)) return bugVm(vm, "TDH_MEM_PAGE_REMOVE", removed.status, gpa, hpa);
  yield* clearRemoved(vm, gpa, hpa, level);
}

/** Split a 2M private mapping (huge-page RFC): BLOCK -> TRACK -> DEMOTE into a new S-EPT page. */
export function* demote(vm: TdxVm, base: number): Flow<boolean> {
  const hpa = vm.mirror2M.get(base)!;
  const blocked = yield* withNoVcpus(vm, { type: "TDH.MEM.RANGE.BLOCK", gpa: base, level: 1 });
  if (!isTdxSuccess(blocked.status)) {
    bugVm(vm, "TDH_MEM_RANGE_BLOCK", blocked.status, base);
    return false;
  }
  yield* track(vm);
  const spt = vm.memory.alloc4K();
  const demoted = yield* withNoVcpus(vm, { type: "TDH.MEM.PAGE.DEMOTE", gpa: base, level: 1, hpa: spt });
  if (!isTdxSuccess(demoted.status)) {
    bugVm(vm, "TDH_MEM_PAGE_DEMOTE", demoted.status, base, spt);
    return false;
  }
  vm.mirror2M.delete(base);
  vm.tables2M.set(idx2M(base), spt);
  for (let i = 0; i < 512; i++) vm.mirror4K.set(base + i * PAGE_4K, hpa + i * PAGE_4K);
  return true;
}

/**
 * kvm_mmu_invalidate_begin(), under write_lock(&kvm->mmu_lock): a fault that took its sequence
 * number before it, or is in flight under the read lock, finds out under the lock and retries.
 */
export function* invalidateBegin(vm: TdxVm, ranges: readonly (readonly [number, number])[]): Flow<void> {
  yield* atMmuWriteLock(vm, () => vm.invalidation.begin(ranges));
}

/** kvm_mmu_invalidate_end(), under write_lock(&kvm->mmu_lock): the sequence moves on. */
export function* invalidateEnd(vm: TdxVm): Flow<void> {
  yield* atMmuWriteLock(vm, () => vm.invalidation.finish());
}

/**
 * Zap every private mapping in [start, end): whole 2M leaves, or demote then zap 4K pages. The
 * leaves are those mapped once the write lock is first taken: no fault in flight can add one
 * after that, because the caller began an invalidation of the range.
 */
export function* zapRange(vm: TdxVm, start: number, end: number): Flow<void> {
  const leaves = (map: PageMap, from: number): Flow<number[]> =>
    atMmuWriteLock(vm, () => sortedWithin(map.keys(), from, end));
  const huge = yield* leaves(vm.mirror2M, align(start, PAGE_2M));
  for (const base of huge) {
    yield* underMmuWriteLock(vm, function* () {
      if (!vm.mirror2M.has(base)) return;
      if (base >= start && base + PAGE_2M <= end) yield* zapLeaf(vm, base, 1);
      else if (!(yield* demote(vm, base))) vm.mirror2M.delete(base);
    });
  }
  // After the demotions, which added the 4K leaves of a 2M leaf the range cuts through.
  for (const page of yield* leaves(vm.mirror4K, start)) {
    yield* underMmuWriteLock(vm, () => zapLeaf(vm, page, 0));
  }
}

/** kvm->mmu_lock (an rwlock on x86): faults take it for read, zaps for write. */
const MMU_LOCK = "kvm->mmu_lock";

/**
 * write_lock(&kvm->mmu_lock): no fault and no other zap runs meanwhile. A zap of a range takes it
 * per leaf, as tdp_mmu_zap_leafs() yields it between SPTEs (cond_resched_rwlock_write()).
 */
export function* underMmuWriteLock<T>(vm: TdxVm, body: () => Flow<T>): Flow<T> {
  yield* lock(MMU_LOCK, "exclusive");
  try {
    return yield* body();
  } finally {
    vm.tasks.unlock(MMU_LOCK);
  }
}

/** Take the write lock, do something that sends nothing, drop it. */
function* atMmuWriteLock<T>(vm: TdxVm, action: () => T): Flow<T> {
  yield* lock(MMU_LOCK, "exclusive");
  try {
    return action();
  } finally {
    vm.tasks.unlock(MMU_LOCK);
  }
}

/**
 * read_lock(&kvm->mmu_lock) for a fault, and the 2M range's own lock: faults on different ranges
 * run concurrently; two on one range are serialised, where the TDP MMU freezes the SPTE and the
 * loser retries (a simplification: the loser waits instead of taking RET_PF_RETRY).
 */
export function* underMmuReadLock<T>(vm: TdxVm, gpa: number, body: () => Flow<T>): Flow<T> {
  const range = `mmu:${idx2M(gpa)}`;
  yield* lock(MMU_LOCK, "shared");
  yield* lock(range);
  try {
    return yield* body();
  } finally {
    vm.tasks.unlock(range);
    vm.tasks.unlock(MMU_LOCK);
  }
}

/** Keys of a GPA-keyed map within [start, end), ascending. */
function sortedWithin(keys: Iterable<number>, start: number, end: number): number[] {
  const out: number[] = [];
  for (const k of keys) if (k >= start && k < end) out.push(k);
  return out.sort((a, b) => a - b);
}
