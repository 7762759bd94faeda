// vCPU execution on pKVM: a guest instruction runs inside the host's __kvm_vcpu_run of its loaded
// vCPU. Stage-2 faults, MEM_SHARE notifications, MMIO and PSCI calls exit to the host; MEM_SHARE
// on an IPA with no page exits as a fake data abort and re-executes after the host donates one.
import {
  EINVAL,
  type Envelope,
  type PkvmExit,
  type Request,
  type RequestEnvelope,
  type Response,
  SMCCC_RET_INVALID_PARAMETER,
  SMCCC_RET_SUCCESS,
} from "../../../protocol/index.ts";
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
        return this.done(vcpu, env, x0(PAGE));
      case "ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE":
        return this.memShare(vcpu, vm, env, msg.ipa);
      case "ARM_SMCCC_VENDOR_HYP_KVM_MEM_UNSHARE": {
        const ok = msg.ipa % PAGE === 0 && this.mem.guestUnshareHost(vm, msg.ipa / PAGE) === 0;
        this.done(vcpu, env, x0(ok ? SMCCC_RET_SUCCESS : SMCCC_RET_INVALID_PARAMETER));
        return ok ? this.exit(vcpu, { reason: "HVC", fn: "MEM_UNSHARE", ipa: msg.ipa }) : undefined;
      }
      case "ARM_SMCCC_VENDOR_HYP_KVM_MEM_RELINQUISH": {
        const ok = msg.ipa % PAGE === 0 && this.mem.guestRelinquish(vm, msg.ipa / PAGE) === 0;
        this.done(vcpu, env, x0(ok ? SMCCC_RET_SUCCESS : SMCCC_RET_INVALID_PARAMETER));
        return ok ? this.exit(vcpu, { reason: "HVC", fn: "MEM_RELINQUISH", ipa: msg.ipa }) : undefined;
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

  /** pkvm_memshare_call(): share in place, or fake a data abort so the host donates the page first. */
  private memShare(vcpu: number, vm: HypVm, env: Envelope, ipa: number): void {
    if (ipa % PAGE !== 0) {
      return this.done(vcpu, env, {
        type: "ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE",
        x0: SMCCC_RET_INVALID_PARAMETER,
      });
    }
    const ret = this.mem.guestShareHost(vm, ipa / PAGE);
    if (ret === -2) {
      // ELR_EL2 -= 4: the HVC stays pending and runs again once the page is there.
      return this.exit(vcpu, { reason: "DABT_LOW", ipa, write: true, memshare: true });
    }
    const x0 = ret === 0 ? SMCCC_RET_SUCCESS : SMCCC_RET_INVALID_PARAMETER;
    this.done(vcpu, env, { type: "ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE", x0 });
    if (ret === 0) this.exit(vcpu, { reason: "HVC", fn: "MEM_SHARE", ipa });
  }
}
