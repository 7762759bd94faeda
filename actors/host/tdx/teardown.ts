// Destroying a TD (arch/x86/kvm/vmx/tdx.c, v7.0). guest_memfd's release (kvm_gmem_release())
// zaps every private page while the HKID is still assigned, one at a time (BLOCK, TRACK if the TD
// ever ran, REMOVE, WBINVD); then tdx_mmu_release_hkid() flushes each vCPU, VPFLUSHDONE, writes
// back the caches and frees the key; then tdx_vm_free() reclaims the S-EPT pages, the vCPU
// pages and the TDR last (only the TDR gets a WBINVD). Whatever the module will not give back
// stays leaked, never reused; if the HKID cannot be released, every control page is leaked.
// A TD that never finalized is torn down the same way (no TRACK: tdx_track() needs RUNNABLE).
import { type Level, type U64, vcpuAddress } from "../../../protocol/index.ts";
import { isTdxSuccess, tdxStatusIs } from "../../../protocol/status.ts";
import { call, type Flow, lock } from "../../../src/kit/flows.ts";
import { beginTeardown, VM_FD } from "../lifecycle.ts";
import { KVM, resetsPages, type TdxVm } from "./vm.ts";
import { bugVm, underMmuWriteLock, zapLeaf } from "./zap.ts";

export function* destroy(vm: TdxVm): Flow<void> {
  beginTeardown(vm.lifecycle);
  // kvm_destroy_vm() runs once the last vCPU file is closed, so no vCPU is inside KVM_RUN: kick
  // them out (again, for one whose TDH.VP.ENTER was on its way) until every KVM_RUN returned.
  do {
    for (let vcpu = 0; vcpu < vm.vcpus; vcpu++) yield* call("hw", { type: "vcpu.kick", vcpu });
  } while (vm.runsInFlight > 0);
  // ...and once every other ioctl in flight has returned (each holds the VM fd's lock).
  yield* lock(VM_FD);
  yield* removeAllPrivate(vm);
  if (yield* releaseHkid(vm)) {
    for (const hpa of [...vm.tables2M.values(), ...vm.tables1G.values(), ...vm.tdvprs])
      yield* reclaim(vm, hpa);
    yield* reclaim(vm, vm.tdr, true);
  } else {
    for (const hpa of [...vm.tables2M.values(), ...vm.tables1G.values(), ...vm.tdvprs, vm.tdr])
      leak(vm, hpa, "the HKID was never released: tdx_reclaim_td_control_pages() gives up");
  }
  vm.tables2M.clear();
  vm.tables1G.clear();
  for (const [, folio] of vm.gmem?.all() ?? []) {
    // Leaked frames are recorded by their 4K page: look each page of the folio up (not every leak per folio).
    let held = false;
    for (let page = 0; page < folio.pages && !held; page++) held = vm.leaked.has(folio.hpa + page * 0x1000);
    if (!held) vm.memory.free(folio.hpa, folio.pages);
  }
  vm.effect({ e: "lifecycle", by: KVM, state: "torn-down" });
  if (vm.lifecycle.state === "tearing-down") vm.lifecycle.notify({ type: "vm.destroyed" });
}

/** kvm_gmem_release(): every private leaf, in GPA order, each zapped on its own. */
function* removeAllPrivate(vm: TdxVm): Flow<void> {
  const leaves: [number, Level][] = [
    ...[...vm.mirror2M.keys()].map((g): [number, Level] => [g, 1]),
    ...[...vm.mirror4K.keys()].map((g): [number, Level] => [g, 0]),
  ].sort((a, b) => a[0] - b[0]);
  for (const [gpa, level] of leaves) yield* underMmuWriteLock(vm, () => zapLeaf(vm, gpa, level));
}

/**
 * tdx_mmu_release_hkid(): VP.FLUSH each vCPU (TDX_VCPU_NOT_ASSOCIATED is fine), VPFLUSHDONE
 * (TDX_FLUSHVP_NOT_DONE: the HKID stays assigned), CACHE.WB, KEY.FREEID. True if the key is free.
 */
function* releaseHkid(vm: TdxVm): Flow<boolean> {
  for (let vcpu = 0; vcpu < vm.vcpus; vcpu++) {
    const r = yield* call("fw", { type: "TDH.VP.FLUSH", vcpu });
    if (!isTdxSuccess(r.status) && !tdxStatusIs(r.status, "TDX_VCPU_NOT_ASSOCIATED"))
      bugVm(vm, `TDH_VP_FLUSH (${vcpuAddress(vcpu)})`, r.status);
  }
  const done = yield* call("fw", { type: "TDH.MNG.VPFLUSHDONE" });
  if (tdxStatusIs(done.status, "TDX_FLUSHVP_NOT_DONE"))
    return hkidLeaked(vm, "TDH_MNG_VPFLUSHDONE", done.status);
  if (!isTdxSuccess(done.status)) return hkidLeaked(vm, "TDH_MNG_VPFLUSHDONE", done.status, true);
  const wb = yield* call("fw", { type: "TDH.PHYMEM.CACHE.WB" });
  if (!isTdxSuccess(wb.status)) return hkidLeaked(vm, "TDH_PHYMEM_CACHE_WB", wb.status, true);
  const freed = yield* call("fw", { type: "TDH.MNG.KEY.FREEID" });
  if (!isTdxSuccess(freed.status)) return hkidLeaked(vm, "TDH_MNG_KEY_FREEID", freed.status, true);
  return true;
}

function hkidLeaked(vm: TdxVm, seamcall: string, status: U64, bug = false): false {
  if (bug) bugVm(vm, seamcall, status);
  vm.effect({
    e: "fault",
    by: KVM,
    kind: "leaked",
    hpa: vm.tdr,
    detail: `HKID ${vm.options.hkid} is leaked (${seamcall}: ${status})`,
  });
  return false;
}

/** tdx_reclaim_page(): RECLAIM, then clear; the TDR also gets a WBINVD of its cache lines. */
function* reclaim(vm: TdxVm, hpa: number, isTdr = false): Flow<void> {
  const r = yield* call("fw", { type: "TDH.PHYMEM.PAGE.RECLAIM", hpa });
  if (!isTdxSuccess(r.status)) return leak(vm, hpa, `TDH.PHYMEM.PAGE.RECLAIM: ${r.status}`);
  if (isTdr) {
    const wb = yield* call("fw", { type: "TDH.PHYMEM.PAGE.WBINVD", hpa });
    if (!isTdxSuccess(wb.status)) {
      bugVm(vm, "TDH_PHYMEM_PAGE_WBINVD", wb.status);
      return leak(vm, hpa, "WBINVD of the TDR failed");
    }
  }
  if (resetsPages(vm))
    yield* call("hw", { type: "host.access", op: "movdir64b", hpa, why: "tdx_reclaim_page" });
  vm.memory.free(hpa, 1);
}

function leak(vm: TdxVm, hpa: number, why: string): void {
  vm.leaked.add(hpa);
  vm.effect({ e: "fault", by: KVM, kind: "leaked", hpa, detail: why });
}
