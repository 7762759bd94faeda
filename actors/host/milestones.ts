// What every VMM does the same way, whatever the platform: run the scenario's milestone hooks,
// count halted vCPUs, and destroy the VM exactly once.

import type { HostAction } from "../../protocol/scenario.ts";
import type { Flow } from "../../src/kit/flows.ts";
import { call } from "../../src/kit/flows.ts";

export interface MilestoneHooks {
  vcpus: number;
  onPost: { value: number; do: HostAction[] }[];
}

export abstract class VmmBase {
  private halted = 0;
  private destroyed = false;

  constructor(protected readonly hooks: MilestoneHooks) {}

  /** Carry out one scenario action (platform-specific). */
  protected abstract act(action: HostAction): Flow<void>;

  protected *onPost(value: number): Flow<void> {
    for (const hook of this.hooks.onPost) {
      if (hook.value !== value) continue;
      for (const action of hook.do) yield* this.act(action);
    }
  }

  /** A vCPU is done; the last one to finish takes the VM down. */
  protected *vcpuHalted(): Flow<void> {
    this.halted++;
    if (this.halted === this.hooks.vcpus) yield* this.destroy();
  }

  protected *destroy(): Flow<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    yield* call("host/kvm", { type: "KVM_DESTROY_VM" });
  }
}
