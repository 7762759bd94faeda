// Destroying a TD (kvm_destroy_vm() -> tdx_mmu_release_hkid(), tdx_vm_free() in
// arch/x86/kvm/vmx/tdx.c, v6.16): kick the vCPUs out, remove every private page while the HKID is
// still assigned, flush the vCPUs, write back caches, free the key, then reclaim the S-EPT and
// control pages with the TDR last. A page the module will not give back is leaked, never reused.
// Simplified: one TRACK for all the blocked pages (KVM tracks per page).
import type { Level } from "../../../protocol/index.ts";
import { isTdxSuccess, tdxStatusName } from "../../../protocol/status.ts";
import { call, type Flow } from "../../../src/kit/flows.ts";
import { beginTeardown } from "../lifecycle.ts";
import { KVM, type TdxVm } from "./vm.ts";
import { clearRemoved, track } from "./zap.ts";

export function* destroy(vm: TdxVm): Flow<void> {
  beginTeardown(vm.lifecycle);
  for (let vcpu = 0; vcpu < vm.vcpus; vcpu++) yield* call("hw", { type: "vcpu.kick", vcpu });
  yield* removeAllPrivate(vm);
  for (let vcpu = 0; vcpu < vm.vcpus; vcpu++) yield* call("fw", { type: "TDH.VP.FLUSH", vcpu });
  yield* call("fw", { type: "TDH.MNG.VPFLUSHDONE" });
  yield* call("fw", { type: "TDH.PHYMEM.CACHE.WB" });
  yield* call("fw", { type: "TDH.MNG.KEY.FREEID" });
  const controlPages = [...vm.tables2M.values(), ...vm.tables1G.values(), ...vm.tdvprs, vm.tdr];
  for (const hpa of controlPages) yield* reclaim(vm, hpa);
  vm.tables2M.clear();
  vm.tables1G.clear();
  for (const [, folio] of vm.gmem?.all() ?? []) vm.memory.free(folio.hpa, folio.pages);
  vm.effect({ e: "lifecycle", by: KVM, state: "torn-down" });
  if (vm.lifecycle.state === "tearing-down") vm.lifecycle.notify({ type: "vm.destroyed" });
}

/** Block every private leaf, one TRACK, then remove each and clear it. */
function* removeAllPrivate(vm: TdxVm): Flow<void> {
  const leaves: [number, Level][] = [
    ...[...vm.mirror2M.keys()].map((g): [number, Level] => [g, 1]),
    ...[...vm.mirror4K.keys()].map((g): [number, Level] => [g, 0]),
  ].sort((a, b) => a[0] - b[0]);
  for (const [gpa, level] of leaves) yield* call("fw", { type: "TDH.MEM.RANGE.BLOCK", gpa, level });
  if (leaves.length > 0) yield* track(vm);
  for (const [gpa, level] of leaves) {
    const mirror = level === 1 ? vm.mirror2M : vm.mirror4K;
    const hpa = mirror.get(gpa)!;
    const r = yield* call("fw", { type: "TDH.MEM.PAGE.REMOVE", gpa, level });
    if (!isTdxSuccess(r.status)) {
      vm.effect({ e: "fault", by: KVM, kind: "leaked", gpa, hpa, detail: tdxStatusName(r.status) });
      continue;
    }
    mirror.delete(gpa);
    yield* clearRemoved(hpa, level);
  }
}

/** tdx_reclaim_page(): RECLAIM, WBINVD, clear, free. */
function* reclaim(vm: TdxVm, hpa: number): Flow<void> {
  const r = yield* call("fw", { type: "TDH.PHYMEM.PAGE.RECLAIM", hpa });
  if (!isTdxSuccess(r.status)) {
    vm.effect({ e: "fault", by: KVM, kind: "leaked", hpa, detail: tdxStatusName(r.status) });
    return;
  }
  yield* call("fw", { type: "TDH.PHYMEM.PAGE.WBINVD", hpa });
  yield* call("hw", { type: "host.access", op: "movdir64b", hpa, why: "tdx_reclaim_page" });
  vm.memory.free(hpa, 1);
}
