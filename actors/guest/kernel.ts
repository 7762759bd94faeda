// The TD guest kernel: per-vCPU workload flows written in Linux's order of operations, with the
// policy deciding which checks run. The guest tracks what it accepted and which alias (private or
// shared) each page has in its own page tables.
import {
  type Address,
  type Content,
  type Level,
  PAGE_2M,
  PAGE_4K,
  type Response,
  vcpuAddress,
} from "../../protocol/index.ts";
import { TDVMCALL_STATUS, tdxStatusIs, tdxStatusName } from "../../protocol/status.ts";
import type { PartyIO } from "../../src/runtime/party.ts";
import { call, type Flow, lock, type TaskRunner } from "../../src/runtime/tasks.ts";
import type { GuestStep } from "../../src/scenarios/spec.ts";
import { RangeSet } from "../../src/util/range-set.ts";
import type { GuestPolicy } from "./policy.ts";

/** Thrown inside a flow when the guest must stop; the kernel turns it into ReportFatalError. */
export class GuestPanic extends Error {}

const MAPGPA_MAX_RETRIES = 3;

export class GuestKernel {
  sharedBit = 0;
  septVeDisable = false;
  /** GPAs accepted (Linux: the complement of the unaccepted bitmap). */
  readonly accepted = new RangeSet();
  /** GPAs whose guest page-table entries are shared (everything else is private). */
  readonly sharedView = new RangeSet();
  terminated: string | undefined;
  private running = 0;

  constructor(
    readonly policy: GuestPolicy,
    private readonly io: PartyIO,
    private readonly tasks: TaskRunner,
  ) {}

  start(workload: GuestStep[][]): void {
    this.running = workload.length;
    for (const [vcpu, steps] of workload.entries())
      this.tasks.spawn(vcpuAddress(vcpu), this.vcpuMain(vcpu, steps));
  }

  private *vcpuMain(vcpu: number, steps: GuestStep[]): Flow<void> {
    const self = vcpuAddress(vcpu);
    try {
      yield* this.boot(self);
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
    yield* call("fw", { type: "TDG.VP.VMCALL<Instruction.HLT>" });
  }

  private *boot(self: Address): Flow<void> {
    const info = yield* call("fw", { type: "TDG.VP.INFO" });
    this.sharedBit = 2 ** (info.gpaWidth - 1);
    this.septVeDisable = info.septVeDisable;
    if (this.policy.requireSeptVeDisable && !info.septVeDisable) {
      throw new GuestPanic("TD misconfiguration: SEPT_VE_DISABLE attribute must be set");
    }
    void self;
  }

  private *runStep(self: Address, vcpu: number, step: GuestStep): Flow<void> {
    switch (step.op) {
      case "accept":
        return yield* this.acceptRange(step.gpa, step.size, step.level === "2M" ? 1 : 0);
      case "write": {
        const content: Content = { k: "data", writer: "guest", tag: step.tag, secret: step.secret };
        return yield* this.access(self, vcpu, "write", step.gpa, step.alias, content);
      }
      case "read":
        return yield* this.access(self, vcpu, "read", step.gpa, step.alias, undefined);
      case "convert":
        return step.to === "shared"
          ? yield* this.setMemoryDecrypted(self, step.gpa, step.size)
          : yield* this.setMemoryEncrypted(self, step.gpa, step.size);
      case "post": {
        yield* call("fw", { type: "TDG.VP.VMCALL<Instruction.IO>", port: 0x80, value: step.value });
        return;
      }
    }
  }

  /** A load or store through the alias the guest's page tables give the page (or the other one). */
  private *access(
    self: Address,
    vcpu: number,
    op: "read" | "write",
    gpa: number,
    alias: "own" | "other",
    content: Content | undefined,
  ): Flow<void> {
    const ownShared = this.sharedView.has(gpa);
    const viaShared = alias === "own" ? ownShared : !ownShared;
    const target = viaShared ? gpa + this.sharedBit : gpa;
    for (let attempt = 0; attempt < 2; attempt++) {
      const r = yield* call("hw", {
        type: "guest.access",
        vcpu,
        op,
        gpa: target,
        ...(content ? { content } : {}),
      });
      const outcome = r.outcome;
      if (outcome.result === "ok") return;
      if (outcome.result === "#MC")
        throw new GuestPanic(`machine check at GPA 0x${gpa.toString(16)}: poison consumed`);
      // #VE on a PENDING private page: only possible without SEPT_VE_DISABLE.
      if (!this.policy.acceptOnVe) {
        throw new GuestPanic(`#VE on private GPA 0x${gpa.toString(16)} (${outcome.septState}): unexpected`);
      }
      const page = gpa - (gpa % PAGE_4K);
      this.io.effect({ e: "fault", by: self, kind: "#VE", gpa: page, detail: "naive guest accepts on #VE" });
      yield* this.acceptOne(page, 0);
    }
    throw new GuestPanic(`access to GPA 0x${gpa.toString(16)} keeps faulting`);
  }

  /** accept_memory(): 2M where aligned and asked, 4K otherwise; fall back on PAGE_SIZE_MISMATCH. */
  *acceptRange(gpa: number, size: number, level: Level): Flow<void> {
    let at = gpa;
    const end = gpa + size;
    while (at < end) {
      const big = level === 1 && at % PAGE_2M === 0 && end - at >= PAGE_2M;
      const unit = big ? PAGE_2M : PAGE_4K;
      if (this.policy.trackAccepted && this.accepted.covers(at, at + unit)) {
        at += unit;
        continue;
      }
      yield* lock(`accept:${Math.floor(at / PAGE_2M)}`);
      try {
        if (!(this.policy.trackAccepted && this.accepted.covers(at, at + unit))) {
          const done = yield* this.acceptOne(at, big ? 1 : 0);
          if (!done) {
            for (let page = at; page < at + unit; page += PAGE_4K) {
              if (!(this.policy.trackAccepted && this.accepted.has(page))) yield* this.acceptOne(page, 0);
            }
          }
        }
      } finally {
        this.tasks.unlock(`accept:${Math.floor(at / PAGE_2M)}`);
      }
      at += unit;
    }
  }

  /** One TDG.MEM.PAGE.ACCEPT; false when a 2M accept must fall back to 4K. */
  private *acceptOne(gpa: number, level: Level): Flow<boolean> {
    const r = yield* call("fw", { type: "TDG.MEM.PAGE.ACCEPT", gpa, level });
    const size = level === 1 ? PAGE_2M : PAGE_4K;
    if (BigInt(r.status) === 0n) {
      this.markAccepted(gpa, size);
      return true;
    }
    if (level === 1 && tdxStatusIs(r.status, "TDX_PAGE_SIZE_MISMATCH")) return false;
    if (tdxStatusIs(r.status, "TDX_PAGE_ALREADY_ACCEPTED") && !this.policy.alreadyAcceptedIsFatal) {
      this.markAccepted(gpa, size);
      return true;
    }
    throw new GuestPanic(`Failed to accept memory at 0x${gpa.toString(16)}: ${tdxStatusName(r.status)}`);
  }

  private markAccepted(gpa: number, size: number): void {
    this.accepted.add(gpa, gpa + size);
    this.io.effect({ e: "accepted", by: "guest/kernel", gpa, size });
  }

  /** set_memory_decrypted(): PTEs to shared, then MapGPA(shared alias). The old page is the host's to drop. */
  private *setMemoryDecrypted(self: Address, gpa: number, size: number): Flow<void> {
    this.sharedView.add(gpa, gpa + size);
    this.io.effect({ e: "guest-view", by: self, gpa, size, view: "shared" });
    this.accepted.remove(gpa, gpa + size);
    if (!(yield* this.mapGpa(self, gpa + this.sharedBit, size))) {
      this.io.effect({
        e: "fault",
        by: self,
        kind: "conversion-failed",
        gpa,
        detail: "MapGPA to shared failed: pages leaked",
      });
    }
  }

  /** set_memory_encrypted(): MapGPA(private), then accept every page (contents are zero after). */
  private *setMemoryEncrypted(self: Address, gpa: number, size: number): Flow<void> {
    if (!(yield* this.mapGpa(self, gpa, size))) {
      throw new GuestPanic(`MapGPA to private failed at 0x${gpa.toString(16)}`);
    }
    this.sharedView.remove(gpa, gpa + size);
    this.io.effect({ e: "guest-view", by: self, gpa, size, view: "private" });
    // Conversion always re-accepts: the bitmap only covers boot-time unaccepted memory.
    this.accepted.remove(gpa, gpa + size);
    yield* this.acceptRange(gpa, size, 1);
  }

  /** TDG.VP.VMCALL<MapGPA> with Linux's RETRY handling (tdx_map_gpa). */
  private *mapGpa(self: Address, start: number, size: number): Flow<boolean> {
    const end = start + size;
    let at = start;
    let retries = 0;
    while (at < end) {
      const r: Response<"TDG.VP.VMCALL<MapGPA>"> = yield* call("fw", {
        type: "TDG.VP.VMCALL<MapGPA>",
        gpa: at,
        size: end - at,
      });
      const status = BigInt(r.status);
      if (status === TDVMCALL_STATUS.TDVMCALL_STATUS_SUCCESS) return true;
      if (status !== TDVMCALL_STATUS.TDVMCALL_STATUS_RETRY || r.retryGpa === undefined) return false;
      if (this.policy.checkRetryGpa) {
        if (r.retryGpa < at || r.retryGpa >= end) {
          this.io.effect({
            e: "fault",
            by: self,
            kind: "bad-retry",
            gpa: r.retryGpa,
            detail: "RETRY GPA outside the range",
          });
          return false;
        }
        retries = r.retryGpa === at ? retries + 1 : 0;
        if (retries > MAPGPA_MAX_RETRIES) return false;
      }
      at = r.retryGpa;
    }
    return true;
  }

  private *panic(self: Address, reason: string): Flow<void> {
    if (this.terminated) return;
    this.terminated = reason;
    this.io.effect({ e: "terminated", by: self, reason });
    yield* call("fw", { type: "TDG.VP.VMCALL<ReportFatalError>", reason });
  }
}
