// The guest kernel: per-vCPU workload flows on top of the platform's guest side (GuestArch), with
// the policy deciding which checks run. A panic in any flow stops the whole guest.
import { type Address, type Content, PAGE_4K, vcpuAddress } from "../../protocol/index.ts";
import type { GuestKernelConfig, GuestStep } from "../../protocol/scenario.ts";
import type { Flow, TaskRunner } from "../../src/kit/flows.ts";
import type { PartyIO } from "../../src/kit/outbox.ts";
import { type GuestArch, GuestPanic } from "./arch.ts";
import type { GuestPolicy } from "./policy.ts";

export class GuestKernel {
  terminated: string | undefined;
  private running = 0;

  /** Every vCPU ran its workload to the end. */
  get complete(): boolean {
    return this.started && this.running === 0;
  }

  private started = false;

  constructor(
    readonly arch: GuestArch,
    private readonly policy: GuestPolicy,
    private readonly config: GuestKernelConfig,
    private readonly io: PartyIO,
    private readonly tasks: TaskRunner,
  ) {}

  start(workload: GuestStep[][]): void {
    this.running = workload.length;
    this.started = true;
    for (const [vcpu, steps] of workload.entries())
      this.tasks.spawn(vcpuAddress(vcpu), this.vcpuMain(vcpu, steps));
  }

  private *vcpuMain(vcpu: number, steps: GuestStep[]): Flow<void> {
    const self = vcpuAddress(vcpu);
    try {
      yield* this.arch.boot(self);
      for (const step of steps) {
        if (this.terminated) return;
        yield* this.runStep(self, vcpu, step);
      }
    } catch (error) {
      if (!(error instanceof GuestPanic)) throw error;
      yield* this.panic(self, error.message);
      return;
    }
    if (this.terminated) return;
    this.running--;
    if (this.running === 0) this.io.effect({ e: "lifecycle", by: self, state: "workload-complete" });
    yield* this.arch.halt();
  }

  private *runStep(self: Address, vcpu: number, step: GuestStep): Flow<void> {
    switch (step.op) {
      case "accept":
        return yield* this.arch.accept(step.gpa, step.size, step.level === "2M" ? 1 : 0);
      case "write": {
        const content: Content = { k: "data", writer: "guest", tag: step.tag, secret: step.secret };
        yield* this.arch.access(self, vcpu, "write", step.gpa, step.alias, content);
        return;
      }
      case "read":
        yield* this.arch.access(self, vcpu, "read", step.gpa, step.alias, undefined);
        return;
      case "convert":
        return step.to === "shared"
          ? yield* this.arch.toShared(self, step.gpa, step.size)
          : yield* this.arch.toPrivate(self, step.gpa, step.size);
      case "free":
        // free_pages_prepare(): init = want_init_on_free().
        if (this.config.init_on_free) yield* this.clear(self, vcpu, step.gpa, step.size);
        return;
      case "alloc":
        return yield* this.allocPages(self, vcpu, step.gpa, step.size, step.gfpZero);
      case "dma-alloc":
        return yield* this.dmaAlloc(self, vcpu, step.gpa, step.size);
      case "zero":
        return yield* this.clear(self, vcpu, step.gpa, step.size);
      case "post":
        return yield* this.arch.post(step.value);
      case "consume":
        return yield* this.consume(self, vcpu, step.gpa, step.bounce);
    }
  }

  /** post_alloc_hook(): init = !want_init_on_free() && want_init_on_alloc(gfp) (mm/page_alloc.c). */
  private *allocPages(self: Address, vcpu: number, gpa: number, size: number, gfpZero: boolean): Flow<void> {
    if (!this.config.init_on_free && (this.config.init_on_alloc || gfpZero))
      yield* this.clear(self, vcpu, gpa, size);
  }

  /**
   * dma_direct_alloc() (kernel/dma/direct.c): __dma_direct_alloc_pages(gfp & ~__GFP_ZERO), then
   * dma_set_decrypted() when force_dma_unencrypted(), then memset(ret, 0, size): a shared buffer
   * is visible to the host before it is cleared.
   */
  private *dmaAlloc(self: Address, vcpu: number, gpa: number, size: number): Flow<void> {
    yield* this.allocPages(self, vcpu, gpa, size, false);
    if (this.arch.forceDmaUnencrypted) yield* this.arch.toShared(self, gpa, size);
    yield* this.clear(self, vcpu, gpa, size);
  }

  /** Zero whole pages with ordinary stores (memset, kernel_init_pages) through their own alias. */
  private *clear(self: Address, vcpu: number, gpa: number, size: number): Flow<void> {
    const first = gpa - (gpa % PAGE_4K);
    for (let page = first; page < gpa + size; page += PAGE_4K)
      yield* this.arch.access(self, vcpu, "write", page, "own", { k: "zero" });
  }

  /** Check a request in shared memory, then use it: from a private copy, or (naive) in place. */
  private *consume(self: Address, vcpu: number, gpa: number, bounce: number): Flow<void> {
    let source = gpa;
    if (this.policy.copyBeforeUse) {
      const request = yield* this.arch.access(self, vcpu, "read", gpa, "own", undefined);
      yield* this.arch.access(self, vcpu, "write", bounce, "own", request ?? { k: "zero" });
      source = bounce;
    }
    const checked = (yield* this.arch.access(self, vcpu, "read", source, "own", undefined)) ?? { k: "zero" };
    // Validating takes time (here: recording what was checked): the window a double fetch opens.
    yield* this.arch.access(self, vcpu, "write", bounce + 0x800, "own", checked);
    const used = (yield* this.arch.access(self, vcpu, "read", source, "own", undefined)) ?? { k: "zero" };
    this.io.effect({ e: "consumed", by: self, gpa, checked, used });
  }

  private *panic(self: Address, reason: string): Flow<void> {
    if (this.terminated) return;
    this.terminated = reason;
    this.io.effect({ e: "terminated", by: self, reason });
    yield* this.arch.reportFatal(reason);
  }
}
