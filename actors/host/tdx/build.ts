// Creating and building a TD (tdx_td_init(), tdx_vcpu_create(), tdx_gmem_post_populate(),
// tdx_td_finalize() in arch/x86/kvm/vmx/tdx.c; kvm_gmem_create(), kvm_set_memory_region() in
// virt/kvm, v7.0). TD creation is coarse: one TDH.MNG.CREATE/KEY.CONFIG/INIT, one TDVPR a vCPU.
import {
  type Content,
  EEXIST,
  EINVAL,
  EIO,
  type GpaWidth,
  PAGE_4K,
  type Response,
  sharedBitOf,
} from "../../../protocol/index.ts";
import { isTdxSuccess } from "../../../protocol/status.ts";
import { call, type Flow } from "../../../src/kit/flows.ts";
import { GuestMemfd } from "../guest-memfd.ts";
import { gmemPage, linkTables } from "./faults.ts";
import type { TdxVm } from "./vm.ts";

/** The one guest_memfd's file descriptor number. */
const GMEM_FD = 10;

/** KVM_TDX_INIT_VM: TDH.MNG.CREATE, KEY.CONFIG, INIT, then one TDH.VP.CREATE per vCPU. */
export function* initVm(vm: TdxVm, septVeDisable: boolean, vcpus: number, gpaWidth: GpaWidth): Flow<number> {
  vm.sharedBit = sharedBitOf(gpaWidth);
  vm.tdr = vm.memory.alloc4K();
  const steps = [
    yield* call("fw", { type: "TDH.MNG.CREATE", tdr: vm.tdr, hkid: vm.options.hkid }),
    yield* call("fw", { type: "TDH.MNG.KEY.CONFIG" }),
    // td_params->config_flags: upstream KVM sets only MAX_GPAW and NO_RBP_MOD, never FLEXIBLE_PENDING_VE.
    yield* call("fw", {
      type: "TDH.MNG.INIT",
      septVeDisable,
      flexiblePendingVe: vm.options.flexiblePendingVe,
      gpaWidth,
    }),
  ];
  if (steps.some((r) => !isTdxSuccess(r.status))) return EIO;
  for (let vcpu = 0; vcpu < vcpus; vcpu++) {
    const tdvpr = vm.memory.alloc4K();
    const r = yield* call("fw", { type: "TDH.VP.CREATE", vcpu, tdvpr });
    if (!isTdxSuccess(r.status)) return EIO;
    vm.tdvprs.push(tdvpr);
  }
  vm.vcpus = vcpus;
  // Closed meanwhile (KVM_DESTROY_VM waits for this ioctl, then tears down what it made).
  if (vm.lifecycle.state === "no-vm") vm.lifecycle.notify({ type: "vm.created" });
  return 0;
}

export function createGuestMemfd(vm: TdxVm, size: number, flags: number): Response<"KVM_CREATE_GUEST_MEMFD"> {
  if (size === 0 || size % PAGE_4K !== 0 || flags !== 0)
    return { type: "KVM_CREATE_GUEST_MEMFD", ret: EINVAL };
  if (vm.gmem) return { type: "KVM_CREATE_GUEST_MEMFD", ret: EEXIST };
  vm.gmem = new GuestMemfd(GMEM_FD, size);
  return { type: "KVM_CREATE_GUEST_MEMFD", ret: 0, fd: vm.gmem.fd };
}

/** KVM_TDX_INIT_MEM_REGION: copy each source page in with PAGE.ADD, measuring it with MR.EXTEND. */
export function* initMemRegion(
  vm: TdxVm,
  gpa: number,
  source: readonly Content[],
  measure: boolean,
): Flow<number> {
  for (let i = 0; i < source.length; i++) {
    const page = gpa + i * PAGE_4K;
    if (!vm.privateAttr.has(page)) return EINVAL;
    const src = vm.memory.alloc4K();
    yield* call("hw", { type: "host.access", op: "write", hpa: src, content: source[i]! });
    if ((yield* linkTables(vm, page, 0)) !== "linked") return EIO;
    const hpa = yield* gmemPage(vm, page, 0, false);
    if (hpa === undefined) return EINVAL;
    const r = yield* call("fw", { type: "TDH.MEM.PAGE.ADD", gpa: page, hpa, source: src });
    vm.memory.free(src, 1);
    if (!isTdxSuccess(r.status)) return EIO;
    vm.mirror4K.set(page, hpa);
    if (measure) {
      for (let chunk = 0; chunk < PAGE_4K; chunk += 256)
        yield* call("fw", { type: "TDH.MR.EXTEND", gpa: page + chunk });
    }
  }
  return 0;
}

/** KVM_TDX_FINALIZE_VM: TDH.MR.FINALIZE, and the MRTD read back for the VMM. */
export function* finalizeVm(vm: TdxVm): Flow<Response<"KVM_TDX_FINALIZE_VM">> {
  const fin = yield* call("fw", { type: "TDH.MR.FINALIZE" });
  if (!isTdxSuccess(fin.status)) return { type: "KVM_TDX_FINALIZE_VM", ret: EIO };
  vm.finalized = true;
  const rd = yield* call("fw", { type: "TDH.MNG.RD", field: "MRTD" });
  if (vm.lifecycle.state === "created") vm.lifecycle.notify({ type: "vm.built" });
  return { type: "KVM_TDX_FINALIZE_VM", ret: 0, mrtd: rd.value };
}
