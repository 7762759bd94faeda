// vCPU execution on TDX: a guest instruction (memory access or TDCALL) runs only while its vCPU
// is inside TDH.VP.ENTER. If it causes a TD exit, TDH.VP.ENTER returns the exit to the host and
// the instruction waits, to be re-executed on the next entry, exactly as the CPU re-executes a
// faulting instruction. The guest never sees the exit.
import type {
  Envelope,
  Request,
  RequestEnvelope,
  Response,
  TdExit,
  VmcallCompletion,
} from "../../../protocol/index.ts";
import { tdxStatus } from "../../../protocol/status.ts";
import { VcpuLoop } from "../../../src/hardware/vcpu-loop.ts";
import type { X86TdxHardware } from "../../../src/hardware/x86-tdx.ts";
import type { PartyIO } from "../../../src/kit/outbox.ts";
import type { TdxModule } from "./module.ts";

const SUCCESS = tdxStatus("TDX_SUCCESS");

export class TdxVcpus extends VcpuLoop<TdExit> {
  protected readonly interruptExit: TdExit = { reason: "EXTERNAL_INTERRUPT" };

  constructor(
    private readonly module: TdxModule,
    private readonly cpu: X86TdxHardware,
    io: PartyIO,
  ) {
    super(io);
  }

  enter(env: RequestEnvelope<"TDH.VP.ENTER">): void {
    const { vcpu, vmcall } = env.msg;
    const reply = (status: ReturnType<typeof tdxStatus>, exit?: TdExit) =>
      this.io.reply(env, exit ? { type: "TDH.VP.ENTER", status, exit } : { type: "TDH.VP.ENTER", status });
    if (!this.module.vcpus.has(vcpu)) return reply(tdxStatus("TDX_OPERAND_INVALID", 1n));
    if (this.entered.has(vcpu)) return reply(tdxStatus("TDX_VCPU_STATE_INCORRECT"));
    if (this.module.fatal)
      return reply(tdxStatus("TDX_TD_FATAL"), { reason: "TD_FATAL", detail: this.module.fatal });
    const pending = this.instructions.get(vcpu);
    if (vmcall && pending?.msg.type === "TDG.VP.VMCALL<MapGPA>") this.completeVmcall(vcpu, pending, vmcall);
    this.module.inGuest.set(vcpu, this.module.epoch);
    this.enterGuest(vcpu, env);
  }

  protected exitResponse(exit: TdExit): Response {
    return { type: "TDH.VP.ENTER", status: SUCCESS, exit };
  }

  protected override onExit(vcpu: number): void {
    this.module.inGuest.delete(vcpu);
  }

  protected execute(vcpu: number, env: Envelope): void {
    if (this.module.fatal) {
      this.exit(vcpu, { reason: "TD_FATAL", detail: this.module.fatal });
      return;
    }
    const by = env.from as `guest/vcpu${number}`;
    const msg = env.msg as Request;
    switch (msg.type) {
      case "guest.access": {
        const outcome = this.cpu.guestAccess(this.module, by, msg.op, msg.gpa, msg.content);
        if (outcome.kind === "exit") return this.exit(vcpu, outcome.exit);
        if (outcome.kind === "mc") {
          this.module.fatal = `#MC consumed by ${by} at GPA 0x${outcome.gpa.toString(16)}`;
          this.done(vcpu, env, { type: "guest.access", outcome: { result: "#MC", gpa: outcome.gpa } });
          return this.exit(vcpu, { reason: "TD_FATAL", detail: this.module.fatal });
        }
        return this.done(vcpu, env, { type: "guest.access", outcome: outcome.result });
      }
      case "TDG.VP.INFO":
        return this.done(vcpu, env, {
          type: "TDG.VP.INFO",
          status: SUCCESS,
          gpaWidth: this.module.gpaWidth,
          septVeDisable: this.module.septVeDisable,
          numVcpus: this.module.vcpus.size,
        });
      case "TDG.VM.RD":
        return this.done(vcpu, env, this.module.vmRead(msg));
      case "TDG.VM.WR":
        return this.done(vcpu, env, { type: "TDG.VM.WR", status: this.module.vmWrite(msg) });
      case "TDG.MEM.PAGE.ACCEPT": {
        const status = this.module.accept(msg);
        if (status === undefined) {
          const exit: TdExit = {
            reason: "EPT_VIOLATION",
            gpa: msg.gpa,
            private: true,
            write: false,
            acceptLevel: msg.level,
          };
          return this.exit(vcpu, exit);
        }
        return this.done(vcpu, env, { type: "TDG.MEM.PAGE.ACCEPT", status });
      }
      case "TDG.VP.VMCALL<MapGPA>":
        return this.exit(vcpu, { reason: "TDVMCALL<MapGPA>", gpa: msg.gpa, size: msg.size });
      case "TDG.VP.VMCALL<ReportFatalError>":
        this.instructions.delete(vcpu);
        return this.exit(vcpu, { reason: "TDVMCALL<ReportFatalError>", detail: msg.reason });
      case "TDG.VP.VMCALL<Instruction.IO>":
        this.done(vcpu, env, { type: "TDG.VP.VMCALL<Instruction.IO>", status: SUCCESS });
        return this.exit(vcpu, { reason: "IO_INSTRUCTION", port: msg.port, value: msg.value });
      case "TDG.VP.VMCALL<Instruction.HLT>":
        this.done(vcpu, env, { type: "TDG.VP.VMCALL<Instruction.HLT>", status: SUCCESS });
        return this.exit(vcpu, { reason: "HLT" });
      default:
        throw new Error(`bug: ${msg.type} is not a guest instruction`);
    }
  }

  private completeVmcall(vcpu: number, pending: Envelope, vmcall: VmcallCompletion): void {
    this.done(vcpu, pending, {
      type: "TDG.VP.VMCALL<MapGPA>",
      status: vmcall.status,
      ...(vmcall.retryGpa === undefined ? {} : { retryGpa: vmcall.retryGpa }),
    });
  }
}
