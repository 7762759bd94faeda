// Taking private memory away from a running TD (tdx_sept_remove_private_spte(), tdx_track(),
// tdx_sept_split_private_spte() in arch/x86/kvm/vmx/tdx.c, v6.16): BLOCK the leaf, TRACK and kick
// every vCPU so the old TLB epoch drains, REMOVE it, then WBINVD and clear the page before reuse;
// split a 2M leaf with DEMOTE when only part of it goes. Every zap holds the 2M range's mmu lock.
import {
  isTdxSuccess,
  type Level,
  PAGE_2M,
  PAGE_4K,
  type Request,
  type Response,
  type TdxStatusName,
  tdxStatusIs,
  tdxStatusName,
} from "../../../protocol/index.ts";
import { call, type Flow, lock } from "../../../src/kit/flows.ts";
import { align, idx2M, pagesOf, type TdxVm } from "./vm.ts";

/** How often KVM reissues a SEAMCALL that reports a transient status before giving up. */
const RETRIES = 16;

/**
 * A SEAMCALL, issued again while it answers one of `transient` (running `between` first), at
 * most `retries` more times; the last answer.
 */
export function* retrying<M extends Request>(
  msg: M,
  transient: readonly TdxStatusName[],
  retries: number,
  between?: () => Flow<void>,
): Flow<Response<M["type"]>> {
  for (let attempt = 0; ; attempt++) {
    const r = (yield* call("fw", msg)) as Response<M["type"]> & { status: string };
    const again = !isTdxSuccess(r.status) && transient.some((name) => tdxStatusIs(r.status, name));
    if (!again || attempt >= retries) return r;
    if (between) yield* between();
  }
}

/** TDH.MEM.TRACK, then kick every vCPU out of the guest so the old epoch drains. */
export function* track(vm: TdxVm): Flow<void> {
  yield* call("fw", { type: "TDH.MEM.TRACK" });
  for (let vcpu = 0; vcpu < vm.vcpus; vcpu++) {
    const r = yield* call("hw", { type: "vcpu.kick", vcpu });
    if (r.wasRunning) vm.pendingEvent.add(vcpu);
  }
}

/** After a REMOVE: write back the page's cache lines (WBINVD) and clear it before any reuse. */
export function* clearRemoved(hpa: number, level: Level): Flow<void> {
  const pages = pagesOf(level);
  for (let i = 0; i < pages; i++)
    yield* call("fw", { type: "TDH.PHYMEM.PAGE.WBINVD", hpa: hpa + i * PAGE_4K });
  // Parts with the partial-write erratum need full-line writes to clear poison and the TD bit.
  yield* call("hw", { type: "host.access", op: "movdir64b", hpa, pages, why: "tdx_clear_page" });
}

/** tdx_sept_remove_private_spte(): BLOCK -> TRACK -> REMOVE -> WBINVD -> MOVDIR64B clear. */
function* zapLeaf(vm: TdxVm, gpa: number, level: Level): Flow<void> {
  const mirror = level === 1 ? vm.mirror2M : vm.mirror4K;
  const hpa = mirror.get(gpa);
  if (hpa === undefined) return;
  const blocked = yield* call("fw", { type: "TDH.MEM.RANGE.BLOCK", gpa, level });
  if (tdxStatusIs(blocked.status, "TDX_EPT_ENTRY_STATE_INCORRECT")) {
    throw new Error(`TDH.MEM.RANGE.BLOCK failed: ${tdxStatusName(blocked.status)}`);
  }
  yield* track(vm);
  const removed = yield* retrying(
    { type: "TDH.MEM.PAGE.REMOVE", gpa, level },
    ["TDX_OPERAND_BUSY", "TDX_TLB_TRACKING_NOT_DONE"],
    RETRIES,
    () => track(vm),
  );
  if (!isTdxSuccess(removed.status))
    throw new Error(`TDH.MEM.PAGE.REMOVE failed: ${tdxStatusName(removed.status)}`);
  mirror.delete(gpa);
  yield* clearRemoved(hpa, level);
}

/** Split a 2M private mapping: BLOCK -> TRACK -> DEMOTE into a new S-EPT page. */
export function* demote(vm: TdxVm, base: number): Flow<void> {
  const hpa = vm.mirror2M.get(base)!;
  yield* call("fw", { type: "TDH.MEM.RANGE.BLOCK", gpa: base, level: 1 });
  yield* track(vm);
  const spt = vm.memory.alloc4K();
  const demoted = yield* retrying(
    { type: "TDH.MEM.PAGE.DEMOTE", gpa: base, level: 1, hpa: spt },
    ["TDX_TLB_TRACKING_NOT_DONE"],
    RETRIES,
    () => track(vm),
  );
  if (!isTdxSuccess(demoted.status))
    throw new Error(`TDH.MEM.PAGE.DEMOTE failed: ${tdxStatusName(demoted.status)}`);
  vm.mirror2M.delete(base);
  vm.tables2M.set(idx2M(base), spt);
  for (let i = 0; i < 512; i++) vm.mirror4K.set(base + i * PAGE_4K, hpa + i * PAGE_4K);
}

/** Zap every private mapping in [start, end): whole 2M leaves, or demote then zap 4K pages. */
export function* zapRange(vm: TdxVm, start: number, end: number): Flow<void> {
  for (const base of sortedWithin(vm.mirror2M.keys(), align(start, PAGE_2M), end)) {
    yield* underMmuLock(vm, base, function* () {
      if (!vm.mirror2M.has(base)) return;
      if (base >= start && base + PAGE_2M <= end) yield* zapLeaf(vm, base, 1);
      else yield* demote(vm, base);
    });
  }
  for (const page of sortedWithin(vm.mirror4K.keys(), start, end)) {
    yield* underMmuLock(vm, page, () => zapLeaf(vm, page, 0));
  }
}

/** Run a flow holding the mmu lock of the 2M range `gpa` is in (KVM serialises per range). */
export function* underMmuLock<T>(vm: TdxVm, gpa: number, body: () => Flow<T>): Flow<T> {
  const key = `mmu:${idx2M(gpa)}`;
  yield* lock(key);
  try {
    return yield* body();
  } finally {
    vm.tasks.unlock(key);
  }
}

/** Keys of a GPA-keyed map within [start, end), ascending. */
function sortedWithin(keys: Iterable<number>, start: number, end: number): number[] {
  const out: number[] = [];
  for (const k of keys) if (k >= start && k < end) out.push(k);
  return out.sort((a, b) => a - b);
}
