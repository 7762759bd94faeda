// TDG.VP.VMCALL<MapGPA> in KVM (tdx_map_gpa(), __tdx_map_gpa(), tdx_complete_vmcall_map_gpa() in
// arch/x86/kvm/vmx/tdx.c, v7.0): check that userspace takes the hypercall, the range, then its
// alignment; hand the VMM one 2M chunk at a time (stepping 2M from the start, aligned or not) as a
// KVM_EXIT_HYPERCALL (KVM_HC_MAP_GPA_RANGE); complete the TDVMCALL when the range is done, with
// RETRY when an event is pending between chunks, or with INVALID_OPERAND when the VMM failed a
// chunk (any non-zero result in 7.0). R11 carries the GPA (shared bit included) on every error.
// No memslot check: attributes are per GFN, whatever the memslots.
import {
  KVM_HC_MAP_GPA_RANGE,
  type KvmExit,
  PAGE_2M,
  PAGE_4K,
  type VmcallCompletion,
} from "../../../protocol/index.ts";
import { type TdvmcallStatusName, tdvmcallStatus } from "../../../protocol/status.ts";
import type { MapGpaProgress, TdxVm } from "./vm.ts";

/** TDX_MAP_GPA_MAX_LEN: the most KVM forwards to userspace in one exit. */
const MAP_GPA_MAX_LEN = PAGE_2M;

export type MapGpaStep = { exit: KvmExit } | { vmcall: VmcallCompletion };

const fail = (status: TdvmcallStatusName, retryGpa: number): MapGpaStep => ({
  vmcall: { status: tdvmcallStatus(status), retryGpa },
});

/** A MapGPA exit from the TD: refuse it, or forward the first chunk to the VMM. */
export function startMapGpa(vm: TdxVm, vcpu: number, gpa: number, size: number): MapGpaStep {
  if ((vm.exitHypercalls & (1 << KVM_HC_MAP_GPA_RANGE)) === 0)
    return fail("TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED", gpa);
  // kvm_vcpu_is_legal_gpa(): below 2^GPAW, i.e. twice the shared bit.
  const legal = (a: number) => a < vm.sharedBit * 2;
  const last = gpa + size - 1;
  if (size === 0 || !legal(gpa) || !legal(last) || gpa >= vm.sharedBit !== last >= vm.sharedBit)
    return fail("TDVMCALL_STATUS_INVALID_OPERAND", gpa);
  if (gpa % PAGE_4K !== 0 || size % PAGE_4K !== 0) return fail("TDVMCALL_STATUS_ALIGN_ERROR", gpa);
  const toShared = gpa >= vm.sharedBit;
  const base = toShared ? gpa - vm.sharedBit : gpa;
  const progress = { next: base, end: base + size, toShared };
  vm.mapGpa.set(vcpu, progress);
  return { exit: chunkExit(progress) };
}

/** The VMM answered a chunk (`ret`): the next chunk, or the TDVMCALL's completion. */
export function continueMapGpa(vm: TdxVm, vcpu: number, progress: MapGpaProgress, ret: number): MapGpaStep {
  const alias = progress.toShared ? vm.sharedBit : 0;
  if (ret !== 0) {
    vm.mapGpa.delete(vcpu);
    return fail("TDVMCALL_STATUS_INVALID_OPERAND", progress.next + alias);
  }
  progress.next += MAP_GPA_MAX_LEN;
  if (progress.next >= progress.end) {
    vm.mapGpa.delete(vcpu);
    return { vmcall: { status: tdvmcallStatus("TDVMCALL_STATUS_SUCCESS") } };
  }
  // kvm_vcpu_has_events() (e.g. the IPI of a TLB flush): RETRY so the guest can take it.
  if (vm.pendingEvent.has(vcpu)) {
    vm.mapGpa.delete(vcpu);
    return fail("TDVMCALL_STATUS_RETRY", progress.next + alias);
  }
  return { exit: chunkExit(progress) };
}

function chunkExit(progress: MapGpaProgress): KvmExit {
  return {
    exit_reason: "KVM_EXIT_HYPERCALL",
    nr: KVM_HC_MAP_GPA_RANGE,
    gpa: progress.next,
    npages: Math.min(progress.end - progress.next, MAP_GPA_MAX_LEN) / PAGE_4K,
    encrypted: !progress.toShared,
  };
}
