// KVM_RUN on a TD vCPU (tdx_vcpu_run(), tdx_handle_exit() in arch/x86/kvm/vmx/tdx.c, v7.0):
// enter with TDH.VP.ENTER and handle each TD exit in the kernel where KVM can (interrupts, EPT
// violations, MapGPA progress), returning to the VMM only for what userspace must do.
import { EFAULT, EINTR, EIO, type Response, type VmcallCompletion } from "../../../protocol/index.ts";
import { call, type Flow, lock } from "../../../src/kit/flows.ts";
import { killVm } from "../lifecycle.ts";
import { handleEptViolation } from "./faults.ts";
import { continueMapGpa, startMapGpa } from "./map-gpa.ts";
import type { TdxVm } from "./vm.ts";
import { SEPT_ZAP_LOCK } from "./zap.ts";

type KvmRun = Response<"KVM_RUN">;

export function* run(vm: TdxVm, vcpu: number, hypercallRet: number | undefined): Flow<KvmRun> {
  if (vm.lifecycle.state === "built") vm.lifecycle.notify({ type: "vm.running" });
  let vmcall: VmcallCompletion | undefined;
  const progress = vm.mapGpa.get(vcpu);
  if (progress) {
    const next = continueMapGpa(vm, vcpu, progress, hypercallRet ?? 0);
    if ("exit" in next) return { type: "KVM_RUN", ret: 0, exit: next.exit };
    vmcall = next.vmcall;
  }
  for (;;) {
    if (vm.vmDead) return { type: "KVM_RUN", ret: EIO };
    if (vm.dying) return { type: "KVM_RUN", ret: EINTR };
    // tdx_vcpu_run(): while a zap reissues a SEAMCALL (wait_for_sept_zap) no vCPU enters.
    yield* lock(SEPT_ZAP_LOCK);
    vm.tasks.unlock(SEPT_ZAP_LOCK);
    vm.pendingEvent.delete(vcpu);
    const entered = yield* call(
      "fw",
      vmcall ? { type: "TDH.VP.ENTER", vcpu, vmcall } : { type: "TDH.VP.ENTER", vcpu },
    );
    vmcall = undefined;
    const exit = entered.exit;
    if (!exit) return { type: "KVM_RUN", ret: EIO };
    switch (exit.reason) {
      case "EXTERNAL_INTERRUPT":
        continue;
      case "HLT":
        return { type: "KVM_RUN", ret: 0, exit: { exit_reason: "KVM_EXIT_HLT" } };
      case "IO_INSTRUCTION":
        return {
          type: "KVM_RUN",
          ret: 0,
          exit: { exit_reason: "KVM_EXIT_IO", port: exit.port, value: exit.value },
        };
      case "TDVMCALL<ReportFatalError>":
        return {
          type: "KVM_RUN",
          ret: 0,
          exit: {
            exit_reason: "KVM_EXIT_SYSTEM_EVENT",
            event: "KVM_SYSTEM_EVENT_TDX_FATAL",
            detail: exit.detail,
          },
        };
      case "TD_FATAL":
        killVm(vm, `TD is dead: ${exit.detail}`);
        return { type: "KVM_RUN", ret: EIO };
      case "TDVMCALL<MapGPA>": {
        const started = startMapGpa(vm, vcpu, exit.gpa, exit.size);
        if ("exit" in started) return { type: "KVM_RUN", ret: 0, exit: started.exit };
        vmcall = started.vmcall;
        continue;
      }
      case "EPT_VIOLATION": {
        const result = yield* handleEptViolation(vm, exit);
        if (result.kind === "user") {
          // A memory-fault exit is KVM_RUN failing with -EFAULT, the exit describing why.
          const ret = result.exit.exit_reason === "KVM_EXIT_MEMORY_FAULT" ? EFAULT : 0;
          return { type: "KVM_RUN", ret, exit: result.exit };
        }
        if (result.kind === "kill") {
          killVm(vm, result.reason);
          return { type: "KVM_RUN", ret: EIO };
        }
        continue;
      }
    }
  }
}
