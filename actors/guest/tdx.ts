// The TD guest's side of TDX (arch/x86/coco/tdx/tdx.c, tdx-shared.c, mm/unaccepted_memory.c,
// Linux 7.0): TDG.VP.INFO and disable_sept_ve() at boot, accept_memory() falling back 2M -> 4K on
// any failure, conversions in Linux's order (to private: MapGPA, accept, then the PTEs; to shared:
// the PTEs, then MapGPA), the private/shared alias picked by the GPA's shared bit, and the
// policy's checks.
import {
  type Address,
  CONFIG_FLEXIBLE_PENDING_VE,
  type Content,
  type Level,
  PAGE_2M,
  PAGE_4K,
  type Response,
  sharedBitOf,
  TD_CTLS_PENDING_VE_DISABLE,
} from "../../protocol/index.ts";
import { isTdxSuccess, TDVMCALL_STATUS, tdxStatusIs } from "../../protocol/status.ts";
import { call, type Flow, lock, type TaskRunner } from "../../src/kit/flows.ts";
import type { PartyIO } from "../../src/kit/outbox.ts";
import { RangeSet } from "../../src/kit/range-set.ts";
import { type GuestArch, GuestPanic } from "./arch.ts";
import type { GuestPolicy } from "./policy.ts";

const MAPGPA_MAX_RETRIES = 3;

export class TdxGuest implements GuestArch {
  readonly forceDmaUnencrypted = true;
  sharedBit = 0;
  /** GPAs accepted (Linux: the complement of the unaccepted bitmap). */
  readonly accepted = new RangeSet();
  /** GPAs whose guest page-table entries are shared (everything else is private). */
  readonly sharedView = new RangeSet();

  constructor(
    private readonly policy: GuestPolicy,
    private readonly io: PartyIO,
    private readonly tasks: TaskRunner,
  ) {}

  *boot(_self: Address): Flow<void> {
    const info = yield* call("fw", { type: "TDG.VP.INFO" });
    this.sharedBit = sharedBitOf(info.gpaWidth);
    if (this.policy.disableSeptVe) yield* this.disableSeptVe(info.septVeDisable);
  }

  /**
   * disable_sept_ve() (arch/x86/coco/tdx/tdx.c, Linux 7.0): without FLEXIBLE_PENDING_VE the
   * attribute decides, and a TD without it panics; with it, the guest sets PENDING_VE_DISABLE
   * itself. The RD/WR statuses are ignored, as in Linux. Debug TDs (which only warn) are not
   * modelled: KVM_SUPPORTED_TD_ATTRS does not include ATTR_DEBUG.
   */
  private *disableSeptVe(septVeDisable: boolean): Flow<void> {
    const config = yield* call("fw", { type: "TDG.VM.RD", field: "CONFIG_FLAGS" });
    if ((config.value & CONFIG_FLEXIBLE_PENDING_VE) === 0) {
      if (septVeDisable) return;
      throw new GuestPanic("TD misconfiguration: SEPT #VE has to be disabled");
    }
    const controls = yield* call("fw", { type: "TDG.VM.RD", field: "TD_CTLS" });
    if ((controls.value & TD_CTLS_PENDING_VE_DISABLE) !== 0) return;
    yield* call("fw", {
      type: "TDG.VM.WR",
      field: "TD_CTLS",
      value: TD_CTLS_PENDING_VE_DISABLE,
      mask: TD_CTLS_PENDING_VE_DISABLE,
    });
  }

  /** A load or store through the alias the guest's page tables give the page (or the other one). */
  *access(
    self: Address,
    vcpu: number,
    op: "read" | "write",
    gpa: number,
    alias: "own" | "other",
    content: Content | undefined,
  ): Flow<Content | undefined> {
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
      if (outcome.result === "ok") return outcome.content;
      if (outcome.result === "#MC")
        throw new GuestPanic(`machine check at GPA 0x${gpa.toString(16)}: poison consumed`);
      // #VE on a PENDING private page: only possible without SEPT_VE_DISABLE.
      if (!this.policy.acceptOnVe) {
        throw new GuestPanic(`#VE on private GPA 0x${gpa.toString(16)} (${outcome.septState}): unexpected`);
      }
      const page = gpa - (gpa % PAGE_4K);
      this.io.effect({ e: "fault", by: self, kind: "#VE", gpa: page, detail: "naive guest accepts on #VE" });
      if (!(yield* this.tryAcceptOne(page, 0))) throw new GuestPanic("TDX: Failed to accept memory");
    }
    throw new GuestPanic(`access to GPA 0x${gpa.toString(16)} keeps faulting`);
  }

  /**
   * accept_memory() -> arch_accept_memory(): accept whole units under the unaccepted-memory lock,
   * skipping units already accepted; a failure panics ("TDX: Failed to accept memory").
   * `level` is the largest page size tried (1G pages are not modelled: Linux would try 1G first).
   */
  *accept(gpa: number, size: number, level: Level): Flow<void> {
    let at = gpa;
    const end = gpa + size;
    while (at < end) {
      const unit = level === 1 && at % PAGE_2M === 0 && end - at >= PAGE_2M ? PAGE_2M : PAGE_4K;
      if (!(this.policy.trackAccepted && this.accepted.covers(at, at + unit))) {
        const key = `accept:${Math.floor(at / PAGE_2M)}`;
        yield* lock(key);
        try {
          if (!(this.policy.trackAccepted && this.accepted.covers(at, at + unit))) {
            if (!(yield* this.acceptMemory(at, unit, level)))
              throw new GuestPanic("TDX: Failed to accept memory");
          }
        } finally {
          this.tasks.unlock(key);
        }
      }
      at += unit;
    }
  }

  /**
   * tdx_accept_memory() (arch/x86/coco/tdx/tdx-shared.c): the largest aligned size that fits,
   * falling back to the next smaller one on any failure (try_accept_one()); false once a 4K
   * accept fails. The naive guest also counts TDX_PAGE_ALREADY_ACCEPTED as accepted.
   */
  private *acceptMemory(gpa: number, size: number, maxLevel: Level): Flow<boolean> {
    let at = gpa;
    const end = gpa + size;
    while (at < end) {
      let done = false;
      for (let level = maxLevel; level >= 0 && !done; level--) {
        const unit = level === 1 ? PAGE_2M : PAGE_4K;
        if (at % unit !== 0 || end - at < unit) continue;
        done =
          (this.policy.trackAccepted && level === 0 && this.accepted.has(at)) ||
          (yield* this.tryAcceptOne(at, level as Level));
        if (done) at += unit;
      }
      if (!done) return false;
    }
    return true;
  }

  private *tryAcceptOne(gpa: number, level: Level): Flow<boolean> {
    const r = yield* call("fw", { type: "TDG.MEM.PAGE.ACCEPT", gpa, level });
    const size = level === 1 ? PAGE_2M : PAGE_4K;
    const accepted =
      isTdxSuccess(r.status) ||
      (tdxStatusIs(r.status, "TDX_PAGE_ALREADY_ACCEPTED") && !this.policy.alreadyAcceptedIsFatal);
    if (accepted) this.markAccepted(gpa, size);
    return accepted;
  }

  private markAccepted(gpa: number, size: number): void {
    this.accepted.add(gpa, gpa + size);
    this.io.effect({ e: "accepted", by: "guest/kernel", gpa, size });
  }

  /**
   * set_memory_decrypted() (__set_memory_enc_pgtable(), arch/x86/mm/pat/set_memory.c): flush,
   * PTEs to shared, then MapGPA(shared alias) in tdx_enc_status_change_finish(). On failure the
   * PTEs stay shared over a page that is still private ("Recoverable #VE"), and the pages leak.
   */
  *toShared(self: Address, gpa: number, size: number): Flow<void> {
    this.sharedView.add(gpa, gpa + size);
    this.io.effect({ e: "guest-view", by: self, gpa, size, view: "shared" });
    this.accepted.remove(gpa, gpa + size);
    if (!(yield* this.mapGpa(self, gpa + this.sharedBit, size)))
      this.conversionFailed(self, gpa, size, "shared");
  }

  /**
   * set_memory_encrypted(): tdx_enc_status_change_prepare() does MapGPA(private) and accepts the
   * whole range before the PTEs change, so no vCPU sees a private PTE over a PENDING page. On
   * failure the PTEs are never flipped.
   */
  *toPrivate(self: Address, gpa: number, size: number): Flow<void> {
    // Conversion always re-accepts: the bitmap only covers boot-time unaccepted memory.
    this.accepted.remove(gpa, gpa + size);
    if (!(yield* this.mapGpa(self, gpa, size)) || !(yield* this.acceptMemory(gpa, size, 1))) {
      this.conversionFailed(self, gpa, size, "private");
      return;
    }
    this.sharedView.remove(gpa, gpa + size);
    this.io.effect({ e: "guest-view", by: self, gpa, size, view: "private" });
  }

  /** The WARN of __set_memory_enc_pgtable()'s vmm_fail path; the caller gets -EIO and goes on. */
  private conversionFailed(self: Address, gpa: number, size: number, to: "shared" | "private"): void {
    this.io.effect({
      e: "fault",
      by: self,
      kind: "conversion-failed",
      gpa,
      detail: `CPA VMM failure to convert memory (addr=0x${gpa.toString(16)}, numpages=${size / PAGE_4K}) to ${to}: -5`,
    });
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
        // max_retries_per_page: three RETRYs in a row without progress and tdx_map_gpa() gives up.
        retries = r.retryGpa === at ? retries + 1 : 0;
        if (retries >= MAPGPA_MAX_RETRIES) return false;
      }
      at = r.retryGpa;
    }
    return true;
  }

  *post(value: number): Flow<void> {
    yield* call("fw", { type: "TDG.VP.VMCALL<Instruction.IO>", port: 0x80, value });
  }

  *halt(): Flow<void> {
    yield* call("fw", { type: "TDG.VP.VMCALL<Instruction.HLT>" });
  }

  *reportFatal(reason: string): Flow<void> {
    yield* call("fw", { type: "TDG.VP.VMCALL<ReportFatalError>", reason });
  }
}
