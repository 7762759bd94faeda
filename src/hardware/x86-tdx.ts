// The x86 side of a TDX platform: the shared EPT KVM edits, and the translation and integrity
// checks the CPU applies to every guest and host access. The GPA's shared bit picks the tree:
// clear -> the module's Secure EPT, set -> the host's shared EPT.

import type { Address, Content, HostZeroReason, SeptState, TdExit } from "../../protocol/index.ts";
import type { PartyIO } from "../kit/outbox.ts";
import { type FrameStore, pfnOf } from "./frames.ts";
import { PhysicalMemory } from "./memory.ts";
import type { HostFacingCpu } from "./requests.ts";

/** What the CPU needs from the module to translate a private GPA. */
export interface PrivateTranslation {
  readonly hkid: number;
  readonly sharedBit: number;
  /** TD_CTLS.PENDING_VE_DISABLE: a PENDING access is a TD exit, not a #VE. */
  readonly pendingVeDisable: boolean;
  leafFor(gpa: number): { state: SeptState; hpa: number; level: number } | undefined;
}

export type GuestAccessOutcome =
  | {
      kind: "done";
      result: { result: "ok"; content?: Content } | { result: "#VE"; gpa: number; septState: SeptState };
    }
  | { kind: "mc"; gpa: number }
  | { kind: "exit"; exit: TdExit };

export interface X86TdxOptions {
  /** Integrity in Ci mode: a host read of a private (or poisoned) line machine-checks the host. */
  hostReadMachineChecks: boolean;
  /** X86_BUG_TDX_PW_MCE: a partial write with a non-TD key leaves the line poisoned. */
  partialWriteErratum?: boolean;
}

export class X86TdxHardware implements HostFacingCpu {
  /** Shared EPT: 4K guest frame number of the shared alias -> host physical address. */
  readonly sharedEpt = new Map<number, number>();

  private readonly memory: PhysicalMemory;

  constructor(
    readonly frames: FrameStore,
    private readonly io: PartyIO,
    private readonly options: X86TdxOptions,
  ) {
    this.memory = new PhysicalMemory(frames, io);
  }

  guestAccess(
    td: PrivateTranslation,
    by: Address,
    op: "read" | "write",
    gpa: number,
    content: Content | undefined,
  ): GuestAccessOutcome {
    const isShared = gpa >= td.sharedBit;
    if (isShared) {
      const hpa = this.sharedEpt.get(pfnOf(gpa));
      if (hpa === undefined) return this.violation(gpa, false, op);
      return this.touch(by, op, gpa, hpa + (gpa % 0x1000), 0, content);
    }
    const leaf = td.leafFor(gpa);
    if (!leaf) return this.violation(gpa, true, op);
    if (leaf.state === "PENDING") {
      // td_ept_violation_exit() (tdx-module 1.5): #VE, or a TD exit with EEQ type PENDING_EPT_VIOLATION.
      if (!td.pendingVeDisable) {
        this.io.effect({ e: "fault", by, kind: "#VE", gpa, detail: "private access to a PENDING page" });
        return { kind: "done", result: { result: "#VE", gpa, septState: "PENDING" } };
      }
      return this.violation(gpa, true, op, true);
    }
    if (leaf.state !== "MAPPED") return this.violation(gpa, true, op);
    const offset = gpa % (leaf.level === 1 ? 0x200000 : 0x1000);
    return this.touch(by, op, gpa, leaf.hpa + offset, td.hkid, content);
  }

  hostAccess(
    by: Address,
    op: "read" | "write" | "clear" | "movdir64b",
    hpa: number,
    content: Content | undefined,
    why?: HostZeroReason,
    pages = 1,
  ): { result: "ok"; content?: Content } | { result: "#MC"; hpa: number } {
    const pfn = pfnOf(hpa);
    const frame = this.frames.get(pfn);
    if (op === "movdir64b") {
      this.memory.zero(by, hpa, pages, why ?? "MOVDIR64B");
      return { result: "ok" };
    }
    const erratum = this.options.partialWriteErratum ?? true;
    if (op === "clear") {
      // clear_page uses ordinary stores: on an erratum part a frame still holding private lines
      // is poisoned; otherwise the stores simply overwrite (and clear the TD bit).
      let poisoned = false;
      for (let p = pfn; p < pfn + pages; p++) {
        const before = this.frames.get(p);
        const poison = erratum && before.keyId !== 0;
        poisoned ||= poison;
        this.frames.set(p, { content: { k: "zero" }, keyId: poison ? before.keyId : 0, poisoned: poison });
      }
      if (poisoned) this.io.effect({ e: "poison", by, hpa, detail: "clear_page over private lines" });
      this.io.effect({ e: "zero", by, hpa, pages, why: why ?? "clear_page", keyId: 0 });
      return { result: "ok" };
    }
    if (op === "write") {
      const data = content ?? { k: "zero" };
      if (frame.keyId !== 0 && erratum) {
        // A partial write with the wrong key leaves the line failing its integrity check.
        this.frames.set(pfn, { content: data, keyId: frame.keyId, poisoned: true });
        this.io.effect({ e: "poison", by, hpa, detail: `host write to a key ${frame.keyId} frame` });
        this.io.effect({ e: "write", by, hpa, content: data });
      } else {
        this.memory.store(by, hpa, data);
      }
      return { result: "ok" };
    }
    if (frame.poisoned || (frame.keyId !== 0 && this.options.hostReadMachineChecks)) {
      this.io.effect({
        e: "mc",
        by,
        hpa,
        detail: frame.poisoned ? "host consumed poison" : "host read of a private line",
      });
      return { result: "#MC", hpa };
    }
    const seen: Content = frame.keyId !== 0 ? { k: "ciphertext", keyId: frame.keyId } : frame.content;
    this.io.effect({ e: "read", by, hpa, content: seen });
    return { result: "ok", content: seen };
  }

  mapShared(by: Address, gpa: number, hpa: number): boolean {
    this.sharedEpt.set(pfnOf(gpa), hpa);
    this.io.effect({ e: "ept", by, gpa, hpa, op: "map" });
    return true;
  }

  zapShared(by: Address, gpa: number, size: number): number {
    let zapped = 0;
    const first = pfnOf(gpa);
    const count = Math.ceil(size / 0x1000);
    const visit = (pfn: number) => {
      const hpa = this.sharedEpt.get(pfn);
      if (hpa !== undefined) {
        this.sharedEpt.delete(pfn);
        zapped++;
        this.io.effect({ e: "ept", by, gpa: pfn * 0x1000, hpa, op: "zap" });
      }
    };
    if (count <= this.sharedEpt.size) for (let p = first; p < first + count; p++) visit(p);
    else for (const pfn of [...this.sharedEpt.keys()]) if (pfn >= first && pfn < first + count) visit(pfn);
    return zapped;
  }

  private touch(
    by: Address,
    op: "read" | "write",
    gpa: number,
    hpa: number,
    keyId: number,
    content: Content | undefined,
  ): GuestAccessOutcome {
    const pfn = pfnOf(hpa);
    if (op === "write") {
      const data = content ?? { k: "zero" };
      const before = this.frames.get(pfn);
      // A shared-key store into a private frame (host aliased it) leaves it failing integrity.
      const poisoned = keyId === 0 && before.keyId !== 0;
      this.frames.set(pfn, { content: data, keyId: poisoned ? before.keyId : keyId, poisoned });
      this.io.effect({ e: "write", by, hpa, gpa, content: data });
      return { kind: "done", result: { result: "ok" } };
    }
    const frame = this.frames.get(pfn);
    if (keyId !== 0 && (frame.poisoned || frame.keyId !== keyId)) {
      this.io.effect({ e: "mc", by, hpa, detail: "TD consumed poison: integrity check failed" });
      return { kind: "mc", gpa };
    }
    const seen: Content = frame.keyId !== keyId ? { k: "ciphertext", keyId: frame.keyId } : frame.content;
    this.io.effect({ e: "read", by, hpa, gpa, content: seen });
    return { kind: "done", result: { result: "ok", content: seen } };
  }

  /** An EPT violation exit; KVM learns only the GPA, the access and whether the page was PENDING. */
  private violation(
    gpa: number,
    isPrivate: boolean,
    op: "read" | "write",
    pending = false,
  ): GuestAccessOutcome {
    const exit = { reason: "EPT_VIOLATION" as const, gpa, private: isPrivate, write: op === "write" };
    return { kind: "exit", exit: pending ? { ...exit, eeq: "PENDING_EPT_VIOLATION" } : exit };
  }
}
