// A protected guest's side of pKVM: memory is donated on first touch, sharing is a stage-2
// permission change made in place by MEM_SHARE / MEM_UNSHARE (one page each), and nobody zeroes
// on the way: Linux's pkvm-guest driver (drivers/virt/coco/pkvm-guest/arm-pkvm-guest.c) issues
// the hypercalls and zeroes nothing, before sharing or after unsharing; whether a page still
// holds old data when it is shared is up to the page allocator (init_on_alloc, init_on_free).
import {
  type Address,
  type Content,
  PAGE_4K,
  SMCCC_RET_INVALID_PARAMETER,
  SMCCC_RET_SUCCESS,
  smcccName,
} from "../../protocol/index.ts";
import { call, type Flow } from "../../src/kit/flows.ts";
import type { PartyIO } from "../../src/kit/outbox.ts";
import { type GuestArch, GuestPanic } from "./arch.ts";

const ZERO: Content = { k: "zero" };

export class PkvmGuest implements GuestArch {
  readonly forceDmaUnencrypted = false;

  constructor(private readonly io: PartyIO) {}

  *boot(_self: Address): Flow<void> {
    const r = yield* call("fw", { type: "ARM_SMCCC_VENDOR_HYP_KVM_HYP_MEMINFO" });
    if (r.x0 <= 0) throw new GuestPanic(`HYP_MEMINFO failed: ${r.x0}`);
  }

  /** No aliases on arm64: private and shared are the same IPA with different stage-2 permissions. */
  *access(
    _self: Address,
    vcpu: number,
    op: "read" | "write",
    gpa: number,
    _alias: "own" | "other",
    content: Content | undefined,
  ): Flow<Content | undefined> {
    if (op === "write") {
      yield* call("hw", { type: "guest.access", vcpu, op: "write", gpa, content: content ?? ZERO });
      return undefined;
    }
    const r = yield* call("hw", { type: "guest.access", vcpu, op: "read", gpa });
    return r.outcome.result === "ok" ? r.outcome.content : undefined;
  }

  /** Nothing to accept: the host donates a page when the guest first touches it. */
  *accept(): Flow<void> {}

  /** set_memory_decrypted() on pKVM: MEM_SHARE each page, in place, whatever it holds. */
  *toShared(self: Address, gpa: number, size: number): Flow<void> {
    for (let page = gpa; page < gpa + size; page += PAGE_4K) {
      const r = yield* call("fw", { type: "ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE", ipa: page });
      if (r.x0 !== 0)
        this.io.effect({
          e: "fault",
          by: self,
          kind: "conversion-failed",
          gpa: page,
          detail: `MEM_SHARE: ${r.x0}`,
        });
    }
    this.io.effect({ e: "guest-view", by: self, gpa, size, view: "shared" });
  }

  /** set_memory_encrypted() on pKVM: MEM_UNSHARE each page; what the host left there stays. */
  *toPrivate(self: Address, gpa: number, size: number): Flow<void> {
    for (let page = gpa; page < gpa + size; page += PAGE_4K) {
      const r = yield* call("fw", { type: "ARM_SMCCC_VENDOR_HYP_KVM_MEM_UNSHARE", ipa: page });
      // EL2 refuses a page that is not PKVM_PAGE_SHARED_OWNED: the guest's idea of its own pages
      // is wrong. Linux returns -EPERM to set_memory_encrypted()'s caller; the model stops here.
      if (r.x0 !== SMCCC_RET_SUCCESS) {
        const why =
          r.x0 === SMCCC_RET_INVALID_PARAMETER
            ? ": EL2 found the page not shared, so the guest's own bookkeeping is wrong (a guest bug, e.g. two vCPUs converting the same page)"
            : "";
        throw new GuestPanic(`MEM_UNSHARE of 0x${page.toString(16)} failed: ${smcccName(r.x0)}${why}`);
      }
    }
    this.io.effect({ e: "guest-view", by: self, gpa, size, view: "private" });
  }

  *post(value: number): Flow<void> {
    yield* call("fw", { type: "mmio.write", value });
  }

  *halt(): Flow<void> {
    yield* call("fw", { type: "PSCI_CPU_OFF" });
  }

  *reportFatal(reason: string): Flow<void> {
    yield* call("fw", { type: "PSCI_SYSTEM_OFF", reason });
  }
}
