// vCPU execution on pKVM: a guest instruction runs inside the host's __kvm_vcpu_run of its loaded
// vCPU. Stage-2 faults, MMIO and PSCI calls exit to the host; a MEM_SHARE or MEM_UNSHARE that
// succeeds returns straight to the guest (pkvm_memshare_call(), kvm_handle_pvm_hvc64()); one on
// an IPA with no page asks the host for it (per profile: a MAP hyp request or a fake data abort)
// and re-executes once the host donated it.
import {
  EINVAL,
  ENOENT,
  type Envelope,
  type PkvmExit,
  type Request,
  type RequestEnvelope,
  type Response,
  SMCCC_RET_INVALID_PARAMETER,
  SMCCC_RET_NOT_SUPPORTED,
  SMCCC_RET_SUCCESS,
} from "../../../protocol/index.ts";
import type { PkvmProfile } from "../../../protocol/profiles.ts";
import type { Arm64PkvmHardware } from "../../../src/hardware/arm64-pkvm.ts";
import { VcpuLoop } from "../../../src/hardware/vcpu-loop.ts";
import type { PartyIO } from "../../../src/kit/outbox.ts";
import type { HypVm, PkvmMemProtect } from "./mem-protect.ts";

const PAGE = 0x1000;

export class PkvmVcpus extends VcpuLoop<PkvmExit> {
  protected readonly interruptExit: PkvmExit = { reason: "IRQ" };

  constructor(
    private readonly mem: PkvmMemProtect,
    private readonly cpu: Arm64PkvmHardware,
    io: PartyIO,
    private readonly profile: PkvmProfile,
    /** The in-place guest_memfd proposal: the host hears of every share and unshare. */
    private readonly inPlaceGmem: boolean,
  ) {
    super(io);
  }

  enter(env: RequestEnvelope<"__kvm_vcpu_run">): void {
    const vcpu = env.msg.vcpu;
    if (!this.mem.vmLoading(vcpu) || this.entered.has(vcpu)) {
      this.io.reply(env, { type: "__kvm_vcpu_run", ret: EINVAL });
      return;
    }
    this.enterGuest(vcpu, env);
  }

  protected exitResponse(exit: PkvmExit): Response {
    return { type: "__kvm_vcpu_run", ret: 0, exit };
  }

  protected execute(vcpu: number, env: Envelope): void {
    const vm = this.mem.vmLoading(vcpu)!;
    const msg = env.msg as Request;
    const x0 = (value: number) => ({ type: msg.type, x0: value }) as Response;
    switch (msg.type) {
      case "guest.access": {
        const outcome = this.cpu.guestAccess(vm.handle, env.from, msg.op, msg.gpa, msg.content);
        if (outcome.kind === "exit") {
          // The host finds the IPA still tracked and asks EL2 whether this was a poisoned IPA.
          if (outcome.poisoned) vm.poisonFault.add(vcpu);
          return this.exit(vcpu, outcome.exit);
        }
        return this.done(vcpu, env, { type: "guest.access", outcome: outcome.result });
      }
      case "ARM_SMCCC_VENDOR_HYP_KVM_HYP_MEMINFO":
        // x1 = KVM_FUNC_HAS_RANGE (BIT(0)) on ACK16 (pkvm_meminfo_call()); 0 on 7.1.
        return this.done(vcpu, env, { type: msg.type, x0: PAGE, x1: this.profile.memInfoHasRange ? 1 : 0 });
      case "ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE":
        return this.memShare(vcpu, vm, env, msg.ipa);
      case "ARM_SMCCC_VENDOR_HYP_KVM_MEM_UNSHARE": {
        const ok = msg.ipa % PAGE === 0 && this.mem.guestUnshareHost(vm, msg.ipa / PAGE) === 0;
        this.done(vcpu, env, this.shareAnswer(msg.type, ok));
        if (ok && this.inPlaceGmem) this.exit(vcpu, { reason: "HVC", fn: "MEM_UNSHARE", ipa: msg.ipa });
        return;
      }
      case "ARM_SMCCC_VENDOR_HYP_KVM_MEM_RELINQUISH": {
        const r =
          msg.ipa % PAGE === 0
            ? this.mem.guestRelinquish(vm, msg.ipa / PAGE)
            : { ret: SMCCC_RET_INVALID_PARAMETER, released: false };
        const answer =
          r.ret === 0
            ? SMCCC_RET_SUCCESS
            : r.ret === SMCCC_RET_NOT_SUPPORTED
              ? r.ret
              : SMCCC_RET_INVALID_PARAMETER;
        this.done(vcpu, env, x0(answer));
        // The host hears of it only when a page was released (handle_pvm_exit_hvc64()).
        if (r.released) this.exit(vcpu, { reason: "HVC", fn: "MEM_RELINQUISH", ipa: msg.ipa });
        return;
      }
      case "mmio.write":
        this.done(vcpu, env, x0(SMCCC_RET_SUCCESS));
        return this.exit(vcpu, { reason: "MMIO", ipa: 0x9000000, value: msg.value });
      case "PSCI_CPU_OFF":
        this.done(vcpu, env, x0(SMCCC_RET_SUCCESS));
        return this.exit(vcpu, { reason: "PSCI_CPU_OFF" });
      case "PSCI_SYSTEM_OFF":
        this.instructions.delete(vcpu);
        return this.exit(vcpu, { reason: "PSCI_SYSTEM_OFF", detail: msg.reason });
      default:
        throw new Error(`bug: ${msg.type} is not a guest instruction`);
    }
  }

  /**
   * pkvm_memshare_call() (ACK16) / kvm_handle_pvm_hvc64() (7.1): share in place and return to the
   * guest, or, for an IPA with no page, have the host donate it first and re-execute the HVC.
   */
  private memShare(vcpu: number, vm: HypVm, env: Envelope, ipa: number): void {
    const type = "ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE";
    if (ipa % PAGE !== 0) return this.done(vcpu, env, this.shareAnswer(type, false));
    const ret = this.mem.guestShareHost(vm, ipa / PAGE);
    if (ret === ENOENT) {
      // ELR_EL2 -= 4: the HVC stays pending and runs again once the page is there.
      return this.exit(
        vcpu,
        this.profile.memShareUnmapped === "hyp-request"
          ? { reason: "HYP_REQ", req: "MAP", ipa, size: PAGE }
          : { reason: "DABT_LOW", ipa, write: true, memshare: true },
      );
    }
    this.done(vcpu, env, this.shareAnswer(type, ret === 0));
    if (ret === 0 && this.inPlaceGmem) this.exit(vcpu, { reason: "HVC", fn: "MEM_SHARE", ipa });
  }

  /** x0, and on ACK16 x1 = the pages done (smccc_set_retval(vcpu, SMCCC_RET_SUCCESS, nr, 0, 0)). */
  private shareAnswer(
    type: "ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE" | "ARM_SMCCC_VENDOR_HYP_KVM_MEM_UNSHARE",
    ok: boolean,
  ): Response {
    if (!ok) return { type, x0: SMCCC_RET_INVALID_PARAMETER };
    return { type, x0: SMCCC_RET_SUCCESS, x1: this.profile.memShareReturnsCount ? 1 : 0 };
  }
}
