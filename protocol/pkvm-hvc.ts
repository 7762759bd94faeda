// pKVM hypercalls. Guest -> EL2: the SMCCC vendor-hypervisor calls a protected guest uses
// (Documentation/virt/kvm/arm/hypercalls.rst; x1 = IPA, x2 = x3 = 0; x0 = 0 or
// SMCCC_RET_INVALID_PARAMETER = -3). Host -> EL2: the __pkvm_* host hypercalls
// (arch/arm64/kvm/hyp/nvhe/hyp-main.c), returning 0 or a negative errno.
import { z } from "zod";
import { Addr, VcpuId } from "./common.ts";
import { call } from "./define.ts";

const X0 = { x0: z.number().int() };
/** x0 and, for the calls that return one, x1 (a page count, or MEMINFO's feature bits). */
const X0X1 = { x0: z.number().int(), x1: z.number().int().optional() };
const Ret = { ret: z.number().int() };
const Pfn = z.number().int().nonnegative();
const Gfn = z.number().int().nonnegative();
const Handle = z.number().int().positive();

/** Why __kvm_vcpu_run returned to the host. */
export const PkvmExit = z.discriminatedUnion("reason", [
  /** Stage-2 data abort on an IPA with no page: the host donates one. `memshare`: the fake abort
   *  EL2 raises when MEM_SHARE hits an unmapped IPA (the HVC re-executes after the donation). */
  z.strictObject({ reason: z.literal("DABT_LOW"), ipa: Addr, write: z.boolean(), memshare: z.boolean() }),
  /**
   * ACK16: EL2 asks the host for something before the HVC can complete (KVM_HYP_REQ_TYPE_MAP:
   * donate the pages behind an IPA range; ARM_EXCEPTION_HYP_REQ, ELR -= 4 so the HVC re-executes).
   */
  z.strictObject({ reason: z.literal("HYP_REQ"), req: z.literal("MAP"), ipa: Addr, size: Addr }),
  /** MEM_SHARE / MEM_UNSHARE on the in-place guest_memfd host (2026 proposal), and a page MEM_RELINQUISH released. */
  z.strictObject({
    reason: z.literal("HVC"),
    fn: z.enum(["MEM_SHARE", "MEM_UNSHARE", "MEM_RELINQUISH"]),
    ipa: Addr,
  }),
  /** A store to the emulated POST device (milestones for scenarios). */
  z.strictObject({ reason: z.literal("MMIO"), ipa: Addr, value: z.number().int() }),
  z.strictObject({ reason: z.literal("PSCI_CPU_OFF") }),
  z.strictObject({ reason: z.literal("PSCI_SYSTEM_OFF"), detail: z.string() }),
  z.strictObject({ reason: z.literal("IRQ") }),
]);
export type PkvmExit = z.infer<typeof PkvmExit>;

export const guestHvcs = {
  ARM_SMCCC_VENDOR_HYP_KVM_HYP_MEMINFO: call(
    "ARM_SMCCC_VENDOR_HYP_KVM_HYP_MEMINFO",
    "guest-hvc",
    "0xC6000002: the protection granule in bytes (x0); x1 = KVM_FUNC_HAS_RANGE on android16-6.12.",
    {},
    X0X1,
  ),
  ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE: call(
    "ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE",
    "guest-hvc",
    "0xC6000003: share a guest-owned page with the host, in place (guest SHARED_OWNED, host SHARED_BORROWED); x1 = pages shared on android16-6.12.",
    { ipa: Addr },
    X0X1,
  ),
  ARM_SMCCC_VENDOR_HYP_KVM_MEM_UNSHARE: call(
    "ARM_SMCCC_VENDOR_HYP_KVM_MEM_UNSHARE",
    "guest-hvc",
    "0xC6000004: take a shared page back (guest OWNED, host NOPAGE); contents preserved; x1 = pages unshared on android16-6.12.",
    { ipa: Addr },
    X0X1,
  ),
  ARM_SMCCC_VENDOR_HYP_KVM_MEM_RELINQUISH: call(
    "ARM_SMCCC_VENDOR_HYP_KVM_MEM_RELINQUISH",
    "guest-hvc",
    "Android extension: give a page back to the host; EL2 poisons it and unmaps the IPA (NOPAGE).",
    { ipa: Addr },
    X0,
  ),
  PSCI_CPU_OFF: call("PSCI_CPU_OFF", "guest-hvc", "0x84000002: this vCPU has nothing left to run.", {}, X0),
  PSCI_SYSTEM_OFF: call(
    "PSCI_SYSTEM_OFF",
    "guest-hvc",
    "0x84000008: the guest stops the VM (a panicking guest reports why).",
    { reason: z.string() },
    X0,
  ),
  "mmio.write": call(
    "mmio.write",
    "guest-hvc",
    "A store to the emulated POST device: traps to the host as an MMIO exit (a milestone).",
    { value: z.number().int().nonnegative() },
    X0,
  ),
} as const;

export const hostHvcs = {
  __pkvm_host_share_hyp: call(
    "__pkvm_host_share_hyp",
    "host-hvc",
    "host OWNED -> SHARED_OWNED, hyp NOPAGE -> SHARED_BORROWED.",
    { pfn: Pfn },
    Ret,
  ),
  __pkvm_host_unshare_hyp: call(
    "__pkvm_host_unshare_hyp",
    "host-hvc",
    "host SHARED_OWNED -> OWNED, hyp SHARED_BORROWED -> NOPAGE; -EBUSY while EL2 pins it.",
    { pfn: Pfn },
    Ret,
  ),
  __pkvm_host_donate_hyp: call(
    "__pkvm_host_donate_hyp",
    "host-hvc",
    "host OWNED -> NOPAGE (annotated HYP), hyp NOPAGE -> OWNED.",
    { pfn: Pfn, nr_pages: z.number().int().positive() },
    Ret,
  ),
  __pkvm_hyp_donate_host: call(
    "__pkvm_hyp_donate_host",
    "host-hvc",
    "hyp OWNED -> NOPAGE, host NOPAGE -> OWNED.",
    { pfn: Pfn, nr_pages: z.number().int().positive() },
    Ret,
  ),
  __pkvm_host_donate_guest: call(
    "__pkvm_host_donate_guest",
    "host-hvc",
    "Protected VM, the loaded vCPU's VM: host OWNED -> NOPAGE (annotated GUEST), guest IPA NOPAGE -> OWNED. Not zeroed.",
    { pfn: Pfn, gfn: Gfn, vcpu: VcpuId },
    Ret,
  ),
  __pkvm_host_share_guest: call(
    "__pkvm_host_share_guest",
    "host-hvc",
    "Non-protected VM only: host OWNED/SHARED_OWNED -> SHARED_OWNED (count++), guest NOPAGE -> SHARED_BORROWED.",
    { pfn: Pfn, gfn: Gfn, nr_pages: z.number().int().positive(), vcpu: VcpuId },
    Ret,
  ),
  __pkvm_host_unshare_guest: call(
    "__pkvm_host_unshare_guest",
    "host-hvc",
    "Non-protected VM: guest SHARED_BORROWED -> NOPAGE, count--; -ENOENT on an unmapped IPA.",
    { handle: Handle, gfn: Gfn, nr_pages: z.number().int().positive() },
    Ret,
  ),
  __pkvm_host_wrprotect_guest: call(
    "__pkvm_host_wrprotect_guest",
    "host-hvc",
    "Write-protect (or unmap) a guest mapping: -EPERM on a protected VM.",
    { handle: Handle, gfn: Gfn },
    Ret,
  ),
  __pkvm_init_vm: call(
    "__pkvm_init_vm",
    "host-hvc",
    "Create the hyp VM (coarse: reserve + init; pgd and metadata donated implicitly).",
    { protected: z.boolean(), vcpus: z.number().int().positive() },
    { ret: z.number().int(), handle: Handle.optional() },
  ),
  __pkvm_vcpu_load: call(
    "__pkvm_vcpu_load",
    "host-hvc",
    "Load a vCPU on this CPU (needed to donate or share to its VM).",
    { handle: Handle, vcpu: VcpuId },
    Ret,
  ),
  __pkvm_vcpu_put: call("__pkvm_vcpu_put", "host-hvc", "Put the loaded vCPU.", { vcpu: VcpuId }, Ret),
  __kvm_vcpu_run: call(
    "__kvm_vcpu_run",
    "host-hvc",
    "Run the loaded vCPU; returns at the next exit the host must handle.",
    { vcpu: VcpuId },
    { ret: z.number().int(), exit: PkvmExit.optional() },
  ),
  __pkvm_vcpu_in_poison_fault: call(
    "__pkvm_vcpu_in_poison_fault",
    "host-hvc",
    "Did the loaded vCPU fault on a poisoned IPA? (nonzero: KVM_RUN fails with -EFAULT).",
    { vcpu: VcpuId },
    Ret,
  ),
  __pkvm_force_reclaim_guest_page: call(
    "__pkvm_force_reclaim_guest_page",
    "host-hvc",
    "The host kernel touched a guest page: EL2 poisons the IPA, zeroes the page and returns it (host OWNED).",
    { phys: Addr },
    Ret,
  ),
  __pkvm_start_teardown_vm: call(
    "__pkvm_start_teardown_vm",
    "host-hvc",
    "The VM is dying: no more vCPU loads.",
    { handle: Handle },
    Ret,
  ),
  __pkvm_reclaim_dying_guest_page: call(
    "__pkvm_reclaim_dying_guest_page",
    "host-hvc",
    "Dying VM: take one page back; a guest-OWNED page is poisoned (zeroed) first, a shared one is not.",
    { handle: Handle, gfn: Gfn },
    Ret,
  ),
  __pkvm_finalize_teardown_vm: call(
    "__pkvm_finalize_teardown_vm",
    "host-hvc",
    "Free the hyp VM's metadata and page tables (zeroed) back to the host.",
    { handle: Handle },
    Ret,
  ),
} as const;
