// A scenario's host actions, run when the guest posts a milestone (a POST code). Each action is
// done by whoever does it on a real host: the VMM (punch a hole, set attributes, read shared
// memory, discard memory) or the host kernel (a driver reading guest memory, an unmap request),
// which runs as a kernel flow from host/kvm while the VMM's vCPU thread waits for it.
import type { HostAction } from "../../protocol/scenario.ts";
import { type Flow, lock, type TaskRunner } from "../../src/kit/flows.ts";

export type KernelAction = Extract<HostAction, { op: "kernel-read" | "unmap" }>;
export type VmmAction = Exclude<HostAction, KernelAction>;

/** The host kernel's side of the actions (KVM implements it per platform). */
export interface KernelActions {
  kernelAction(action: KernelAction): Flow<void>;
}

const isKernelAction = (action: HostAction): action is KernelAction =>
  action.op === "kernel-read" || action.op === "unmap";

export class Milestones {
  constructor(
    private readonly hooks: readonly { value: number; do: readonly HostAction[] }[],
    private readonly tasks: TaskRunner,
    private readonly kernel: KernelActions,
  ) {}

  /** The guest posted `value`: run each hook's actions in order, the VMM's through `vmm`. */
  *reached(value: number, vmm: (action: VmmAction) => Flow<void>): Flow<void> {
    for (const hook of this.hooks) {
      if (hook.value !== value) continue;
      for (const action of hook.do) {
        if (isKernelAction(action)) yield* this.inKernel(this.kernel.kernelAction(action));
        else yield* vmm(action);
      }
    }
  }

  /** Run a host-kernel flow (it speaks from host/kvm) and wait for it to finish. */
  private *inKernel(flow: Flow<void>): Flow<void> {
    const done = "vmm:kernel-flow";
    yield* lock(done);
    const tasks = this.tasks;
    this.tasks.spawn(
      "host/kvm",
      (function* () {
        yield* flow;
        tasks.unlock(done);
      })(),
    );
    yield* lock(done);
    this.tasks.unlock(done);
  }
}
