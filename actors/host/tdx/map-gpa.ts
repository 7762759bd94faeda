// TDG.VP.VMCALL<MapGPA> in KVM (tdx_map_gpa(), tdx_complete_vmcall_map_gpa() in
// arch/x86/kvm/vmx/tdx.c, v6.16): validate the range, then hand the VMM one chunk at a time as a
// KVM_EXIT_HYPERCALL (KVM_HC_MAP_GPA_RANGE) and complete the TDVMCALL when the range is done, or
// with RETRY when an event is pending for the vCPU.
import {
  KVM_HC_MAP_GPA_RANGE,
  type KvmExit,
  PAGE_2M,
  PAGE_4K,
  type VmcallCompletion,
} from "../../../protocol/index.ts";
import { tdvmcallStatus } from "../../../protocol/status.ts";
import { align, type MapGpaProgress, type TdxVm } from "./vm.ts";

export type MapGpaStep = { exit: KvmExit } | { vmcall: VmcallCompletion };

/** A MapGPA exit from the TD: refuse a bad range, else forward the first chunk to the VMM. */
export function startMapGpa(vm: TdxVm, vcpu: number, gpa: number, size: number): MapGpaStep {
  const toShared = gpa >= vm.sharedBit;
  const base = toShared ? gpa - vm.sharedBit : gpa;
  if (
    size === 0 ||
    gpa % PAGE_4K !== 0 ||
    size % PAGE_4K !== 0 ||
    !vm.slot ||
    base + size > vm.slot.gpa + vm.slot.size
  ) {
    return { vmcall: { status: tdvmcallStatus("TDVMCALL_STATUS_INVALID_OPERAND"), retryGpa: gpa } };
  }
  const progress = { next: base, end: base + size, toShared };
  vm.mapGpa.set(vcpu, progress);
  return { exit: chunkExit(progress) };
}

/** The VMM answered a chunk (`ret`): the next chunk, or the TDVMCALL's completion. */
export function continueMapGpa(vm: TdxVm, vcpu: number, progress: MapGpaProgress, ret: number): MapGpaStep {
  const alias = progress.toShared ? vm.sharedBit : 0;
  if (ret !== 0) {
    vm.mapGpa.delete(vcpu);
    return {
      vmcall: { status: tdvmcallStatus("TDVMCALL_STATUS_INVALID_OPERAND"), retryGpa: progress.next + alias },
    };
  }
  progress.next = Math.min(progress.end, align(progress.next, PAGE_2M) + PAGE_2M);
  if (progress.next >= progress.end) {
    vm.mapGpa.delete(vcpu);
    return { vmcall: { status: tdvmcallStatus("TDVMCALL_STATUS_SUCCESS") } };
  }
  // A pending event (e.g. the IPI of a TLB flush) makes KVM return RETRY so the guest can take it.
  if (vm.pendingEvent.has(vcpu)) {
    vm.mapGpa.delete(vcpu);
    return { vmcall: { status: tdvmcallStatus("TDVMCALL_STATUS_RETRY"), retryGpa: progress.next + alias } };
  }
  return { exit: chunkExit(progress) };
}

function chunkExit(progress: MapGpaProgress): KvmExit {
  const chunkEnd = Math.min(progress.end, align(progress.next, PAGE_2M) + PAGE_2M);
  return {
    exit_reason: "KVM_EXIT_HYPERCALL",
    nr: KVM_HC_MAP_GPA_RANGE,
    gpa: progress.next,
    npages: (chunkEnd - progress.next) / PAGE_4K,
    encrypted: !progress.toShared,
  };
}
