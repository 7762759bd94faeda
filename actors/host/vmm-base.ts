// What every VMM does the same way, whatever the platform: count halted vCPUs and destroy the VM
// exactly once, when the last vCPU is done or the VM cannot run any more.
import { call, type Flow } from "../../src/kit/flows.ts";

export abstract class VmmBase {
  private halted = 0;
  private destroyed = false;

  constructor(private readonly vcpus: number) {}

  /** A vCPU is done; the last one to finish takes the VM down. */
  protected *vcpuHalted(): Flow<void> {
    this.halted++;
    if (this.halted === this.vcpus) yield* this.destroy();
  }

  protected *destroy(): Flow<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    yield* call("host/kvm", { type: "KVM_DESTROY_VM" });
  }
}
