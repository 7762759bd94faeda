// How a trusted entity runs guest instructions, on any platform: an instruction (a memory access
// or a call to the trusted entity) runs only while its vCPU is inside the host's "run" request
// (TDH.VP.ENTER, __kvm_vcpu_run). If it needs the host, the run request returns the exit and the
// instruction waits, to be re-executed on the next entry, as the CPU re-executes a faulting
// instruction. The guest never sees the exit.
import type { Envelope, Response } from "../../protocol/index.ts";
import type { PartyIO } from "../kit/outbox.ts";

export function vcpuOf(address: string): number {
  return Number(address.slice("guest/vcpu".length));
}

export abstract class VcpuLoop<Exit> {
  /** The host's outstanding run request per vCPU: present = the vCPU is in guest mode. */
  protected readonly entered = new Map<number, Envelope>();
  /** The guest instruction each vCPU is executing (or will re-execute on entry). */
  protected readonly instructions = new Map<number, Envelope>();

  constructor(protected readonly io: PartyIO) {}

  /** Execute the vCPU's pending instruction: answer it with `done`, or leave it with `exit`. */
  protected abstract execute(vcpu: number, env: Envelope): void;
  /** The run request's answer carrying an exit. */
  protected abstract exitResponse(exit: Exit): Response;
  /** The exit a kick (IPI) causes. */
  protected abstract readonly interruptExit: Exit;

  instruction(env: Envelope): void {
    const vcpu = vcpuOf(env.from);
    this.instructions.set(vcpu, env);
    this.run(vcpu);
  }

  /** IPI: a running vCPU exits; the host runs it again. */
  kick(vcpu: number): boolean {
    if (!this.entered.has(vcpu)) return false;
    this.exit(vcpu, this.interruptExit);
    return true;
  }

  /** Teardown: drop whatever a vCPU was executing. */
  discard(vcpu: number): void {
    this.instructions.delete(vcpu);
  }

  isInGuest(vcpu: number): boolean {
    return this.entered.has(vcpu);
  }

  /** The vCPU enters the guest on this run request; its pending instruction runs (again). */
  protected enterGuest(vcpu: number, env: Envelope): void {
    this.entered.set(vcpu, env);
    this.run(vcpu);
  }

  protected run(vcpu: number): void {
    const env = this.instructions.get(vcpu);
    if (env && this.entered.has(vcpu)) this.execute(vcpu, env);
  }

  protected done(vcpu: number, env: Envelope, response: Response): void {
    this.instructions.delete(vcpu);
    this.io.reply(env, response);
  }

  protected exit(vcpu: number, exit: Exit): void {
    const enter = this.entered.get(vcpu)!;
    this.entered.delete(vcpu);
    this.onExit(vcpu);
    this.io.reply(enter, this.exitResponse(exit));
  }

  /** Platform bookkeeping when a vCPU leaves the guest (TDX: its TLB epoch). */
  protected onExit(_vcpu: number): void {}
}
