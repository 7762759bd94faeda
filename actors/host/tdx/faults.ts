// KVM's EPT-violation path for a TD (tdx_handle_ept_violation(), kvm_tdp_page_fault(),
// kvm_faultin_pfn(), tdx_sept_set_private_spte() in arch/x86/kvm/vmx/tdx.c and mmu/mmu.c, v7.0):
// a private fault on a private GFN gets a guest_memfd page and an AUG (linking S-EPT pages first);
// an access whose kind does not match the GFN's attribute goes to userspace as
// KVM_EXIT_MEMORY_FAULT; a fault racing an invalidation retries (RET_PF_RETRY).
import { type KvmExit, type Level, PAGE_2M, PAGE_4K } from "../../../protocol/index.ts";
import { isTdxSuccess } from "../../../protocol/status.ts";
import { call, type Flow } from "../../../src/kit/flows.ts";
import type { GmemPage, GuestMemfd } from "../guest-memfd.ts";
import { align, idx1G, idx2M, KVM, type TdxVm } from "./vm.ts";
import { bugVm, demote, operandBusy, underMmuReadLock, underMmuWriteLock } from "./zap.ts";

export type FaultResult =
  | { kind: "resume" }
  | { kind: "user"; exit: KvmExit }
  | { kind: "kill"; reason: string };

export interface EptViolation {
  gpa: number;
  private: boolean;
  acceptLevel?: Level | undefined;
  eeq?: "PENDING_EPT_VIOLATION" | undefined;
}

export function* handleEptViolation(vm: TdxVm, exit: EptViolation): Flow<FaultResult> {
  if (!exit.private) return yield* sharedFault(vm, exit.gpa - vm.sharedBit);
  const page = align(exit.gpa, PAGE_4K);
  // tdx_is_sept_violation_unexpected_pending() -> kvm_vm_dead(), KVM_RUN returns -EIO.
  if (exit.eeq === "PENDING_EPT_VIOLATION") {
    return { kind: "kill", reason: `Guest access before accepting 0x${page.toString(16)}` };
  }
  // kvm_mmu_faultin_pfn(), in its order: the attribute, the memslot, then guest_memfd.
  if (!vm.privateAttr.has(page)) return memoryFault(page, true);
  const slot = vm.slotFor(page);
  if (!slot) return memoryFault(page, true); // kvm_handle_noslot_fault()
  if (slot.invalid || vm.invalidation.covers(page)) return retryFault(vm, page, "invalidation in progress");
  if (slot.gmemOffset === undefined) return memoryFault(page, true); // !kvm_slot_has_gmem()
  const base2M = align(page, PAGE_2M);
  if (vm.mirror2M.has(base2M) || vm.mirror4K.has(page))
    return yield* alreadyMapped(vm, base2M, exit.acceptLevel);
  // kvm_faultin_pfn(): get the backing page outside the mmu lock, remembering the sequence...
  const seq = vm.invalidation.seq;
  const level = mappingLevel(vm, page);
  const target = level === 1 ? base2M : page;
  const hpa = (yield* gmemPage(vm, target, level, true))!;
  const mapped = yield* underMmuReadLock(vm, page, function* (): Flow<FaultResult | "mapped"> {
    // ...then, under the lock, drop the fault if an invalidation ran meanwhile (is_page_fault_stale).
    // mmu_invalidate_retry_gfn(): the sequence moved, or an invalidation of this GFN is under way.
    if (vm.invalidation.mustRetry(seq, page) || slot.invalid || !vm.privateAttr.has(page)) {
      return retryFault(vm, page, "mmu_invalidate_retry: an invalidation ran while faulting");
    }
    if (vm.mirror2M.has(base2M) || vm.mirror4K.has(page)) return "mapped";
    if (level === 1 && vm.tables2M.has(idx2M(page))) return retryFault(vm, page, "2M range split meanwhile");
    const result = yield* mapPrivate(vm, target, level, hpa);
    if (result === "busy") return retryFault(vm, page, "TDX_OPERAND_BUSY: -EBUSY, the fault is retried");
    if (result === "frozen")
      return retryFault(vm, page, "FROZEN_SPTE: another fault is linking the S-EPT page");
    if (result === "bugged") return { kind: "kill", reason: "the VM is bugged" };
    return { kind: "resume" };
  });
  // Mapped by another vCPU meanwhile: handled once the read lock is dropped (a split needs it for write).
  return mapped === "mapped" ? yield* alreadyMapped(vm, base2M, exit.acceptLevel) : mapped;
}

/** Another vCPU mapped it first; a 4K accept on a 2M PENDING leaf needs the leaf demoted. */
function* alreadyMapped(vm: TdxVm, base2M: number, acceptLevel: Level | undefined): Flow<FaultResult> {
  if (!vm.mirror2M.has(base2M) || acceptLevel !== 0) return { kind: "resume" };
  yield* underMmuWriteLock(vm, function* () {
    if (vm.mirror2M.has(base2M)) yield* demote(vm, base2M);
  });
  return { kind: "resume" };
}

/** kvm_mmu_prepare_memory_fault_exit(): KVM_RUN fails with -EFAULT and a KVM_EXIT_MEMORY_FAULT. */
function memoryFault(page: number, isPrivate: boolean): FaultResult {
  return {
    kind: "user",
    exit: { exit_reason: "KVM_EXIT_MEMORY_FAULT", gpa: page, size: PAGE_4K, private: isPrivate },
  };
}

/** RET_PF_RETRY: resume the vCPU without mapping; it faults again and re-evaluates. */
function retryFault(vm: TdxVm, gpa: number, why: string): FaultResult {
  vm.effect({ e: "fault", by: KVM, kind: "RET_PF_RETRY", gpa, detail: why });
  return { kind: "resume" };
}

/** 2M when allowed and the whole 2M range is private and unmapped; else 4K. */
function mappingLevel(vm: TdxVm, page: number): Level {
  if (vm.options.privateLevel === 0) return 0;
  const base = align(page, PAGE_2M);
  if (vm.tables2M.has(idx2M(base)) || !vm.privateAttr.covers(base, base + PAGE_2M)) return 0;
  const slot = vm.slotFor(base);
  if (!slot || base + PAGE_2M > slot.gpa + slot.size) return 0;
  const offset = vm.gmemOffset(base);
  const folio = offset === undefined ? undefined : vm.gmem?.lookup(offset);
  return folio && folio[1].pages !== 512 ? 0 : 1;
}

/** A shared access: map the VMM's page (faulted in on first touch) in the shared EPT. */
function* sharedFault(vm: TdxVm, gpa: number): Flow<FaultResult> {
  const page = align(gpa, PAGE_4K);
  if (vm.privateAttr.has(page)) return memoryFault(page, false);
  if (vm.invalidation.covers(page)) return { kind: "resume" };
  const hpa = yield* vm.ram.faultIn(page / PAGE_4K);
  yield* call("hw", { type: "ept.map", gpa: page + vm.sharedBit, hpa });
  return { kind: "resume" };
}

/** What a SEAMCALL of the fault path came to: done, -EBUSY (retry the fault), or TDX_BUG_ON. */
type SeptResult = "linked" | "busy" | "frozen" | "bugged";

/** The S-EPT pages above a leaf: a 1G-level table, and a 2M-level one for a 4K leaf. */
export function* linkTables(vm: TdxVm, gpa: number, level: Level): Flow<SeptResult> {
  if (!vm.tables1G.has(idx1G(gpa))) {
    const linked = yield* addTable(vm, align(gpa, 0x40000000), 2);
    if (linked !== "linked") return linked;
  }
  if (level === 0 && !vm.tables2M.has(idx2M(gpa))) return yield* addTable(vm, align(gpa, PAGE_2M), 1);
  return "linked";
}

/**
 * tdx_sept_link_private_spt(): TDH.MEM.SEPT.ADD of a fresh page; -EBUSY on contention. Faults
 * run under the read lock: the parent SPTE is frozen (FROZEN_SPTE) while the SEAMCALL runs, and a
 * fault that finds it frozen retries (tdp_mmu_set_spte_atomic() fails, RET_PF_RETRY).
 */
function* addTable(vm: TdxVm, gpa: number, level: 1 | 2): Flow<SeptResult> {
  const frozen = `${level}:${gpa}`;
  if (vm.frozenSptes.has(frozen)) return "frozen";
  vm.frozenSptes.add(frozen);
  const spt = vm.memory.alloc4K();
  const r = yield* call("fw", { type: "TDH.MEM.SEPT.ADD", gpa, level, hpa: spt });
  vm.frozenSptes.delete(frozen);
  if (isTdxSuccess(r.status)) {
    (level === 2 ? vm.tables1G : vm.tables2M).set(level === 2 ? idx1G(gpa) : idx2M(gpa), spt);
    return "linked";
  }
  vm.memory.free(spt, 1);
  if (operandBusy(r.status)) return "busy";
  bugVm(vm, "TDH_MEM_SEPT_ADD", r.status, gpa);
  return "bugged";
}

/** tdx_sept_set_private_spte() -> tdx_mem_page_aug(): link tables, AUG the guest_memfd page. */
function* mapPrivate(vm: TdxVm, gpa: number, level: Level, hpa: number): Flow<SeptResult> {
  const linked = yield* linkTables(vm, gpa, level);
  if (linked !== "linked") return linked;
  const r = yield* call("fw", { type: "TDH.MEM.PAGE.AUG", gpa, level, hpa });
  if (isTdxSuccess(r.status)) {
    (level === 1 ? vm.mirror2M : vm.mirror4K).set(gpa, hpa);
    return "linked";
  }
  if (operandBusy(r.status)) return "busy";
  bugVm(vm, "TDH_MEM_PAGE_AUG", r.status, gpa, hpa);
  return "bugged";
}

/**
 * kvm_gmem_get_pfn(): the folio for a GPA, allocated (and zeroed, if `prepare`) on first use;
 * undefined when no memslot binds the GPA to the guest_memfd.
 */
export function* gmemPage(vm: TdxVm, gpa: number, level: Level, prepare: boolean): Flow<number | undefined> {
  const gmem = vm.gmem;
  const offset = vm.gmemOffset(gpa);
  if (!gmem || offset === undefined) return undefined;
  const found = gmem.lookup(offset);
  if (found) {
    const [at, folio] = found;
    if (prepare && !folio.prepared) yield* prepareFolio(gmem, at, folio);
    return folio.hpa + (offset - at);
  }
  const pages = level === 1 ? 512 : 1;
  const hpa = level === 1 ? vm.memory.alloc2M() : vm.memory.alloc4K();
  const folio = { hpa, pages, prepared: false };
  gmem.insert(offset, folio);
  vm.effect({ e: "gmem", by: KVM, gpa: align(gpa, pages * PAGE_4K), hpa, pages, op: "alloc" });
  if (prepare) yield* prepareFolio(gmem, offset, folio);
  return hpa;
}

/** A fresh folio is cleared before the guest gets it (kvm_gmem_prepare_folio / clear_highpage). */
function* prepareFolio(gmem: GuestMemfd, at: number, folio: GmemPage): Flow<void> {
  gmem.markPrepared(at);
  const pages = folio.pages === 512 ? 512 : 1;
  yield* call("hw", {
    type: "host.access",
    op: "clear",
    hpa: folio.hpa,
    pages,
    why: "guest_memfd first use",
  });
}
