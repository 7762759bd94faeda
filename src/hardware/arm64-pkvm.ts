// The arm64 side of a pKVM platform: the MMU's checks on every access. A guest access walks the
// guest stage-2 (owned by EL2); a host access walks the host stage-2, which maps only pages the
// host owns or shares: anything else is an abort. There is no memory encryption: isolation is
// the stage-2 tables alone, so plaintext stays in the frame.

import type { Address, Content, HostZeroReason, PkvmExit } from "../../protocol/index.ts";
import type { PartyIO } from "../kit/outbox.ts";
import { type FrameStore, pfnOf } from "./frames.ts";
import { PhysicalMemory } from "./memory.ts";
import type { HostFacingCpu } from "./requests.ts";

export type Arm64GuestOutcome =
  | { kind: "done"; result: { result: "ok"; content?: Content } }
  /** A stage-2 abort taken to EL2; `poisoned`: the IPA was poisoned (EL2 records it for the host). */
  | { kind: "exit"; exit: PkvmExit; poisoned?: true };

/** The stage-2 tables the MMU walks. EL2 owns and edits them; the hardware only reads them. */
export interface Stage2Tables {
  /** The guest stage-2 leaf of a VM's IPA frame: the page it maps, and whether the IPA is poisoned. */
  guestLeaf(handle: number, gfn: number): { pfn: number; poisoned: boolean } | undefined;
  /** Whether the host stage-2 maps a page (the host owns or shares it). */
  hostMaps(pfn: number): boolean;
}

export class Arm64PkvmHardware implements HostFacingCpu {
  private readonly memory: PhysicalMemory;

  constructor(
    readonly frames: FrameStore,
    private readonly io: PartyIO,
    private readonly stage2: Stage2Tables,
  ) {
    this.memory = new PhysicalMemory(frames, io);
  }

  guestAccess(
    handle: number,
    by: Address,
    op: "read" | "write",
    ipa: number,
    content: Content | undefined,
  ): Arm64GuestOutcome {
    const mapping = this.stage2.guestLeaf(handle, pfnOf(ipa));
    const abort: Arm64GuestOutcome = {
      kind: "exit",
      exit: { reason: "DABT_LOW", ipa, write: op === "write", memshare: false },
    };
    if (!mapping) return abort;
    if (mapping.poisoned) {
      this.io.effect({ e: "fault", by, kind: "stage-2 abort", gpa: ipa, detail: "access to a poisoned IPA" });
      return { ...abort, poisoned: true };
    }
    const hpa = mapping.pfn * 0x1000 + (ipa % 0x1000);
    if (op === "write") {
      this.memory.store(by, hpa, content ?? { k: "zero" }, ipa);
      return { kind: "done", result: { result: "ok" } };
    }
    return { kind: "done", result: { result: "ok", content: this.memory.load(by, hpa, ipa) } };
  }

  /** A host load or store: the host stage-2 maps only what the host owns or shares. */
  hostAccess(
    by: Address,
    op: "read" | "write" | "clear" | "movdir64b",
    hpa: number,
    content: Content | undefined,
    why: HostZeroReason | undefined,
    pages = 1,
  ): { result: "ok"; content?: Content } | { result: "abort"; hpa: number } {
    const pfn = pfnOf(hpa);
    for (let p = pfn; p < pfn + pages; p++) {
      if (!this.stage2.hostMaps(p)) {
        const el = by === "host/vmm" ? "EL0 (VMM)" : "EL1 (kernel)";
        this.io.effect({
          e: "fault",
          by,
          kind: "host stage-2 abort",
          hpa: p * 0x1000,
          detail: `${el} touched a page it does not own`,
        });
        return { result: "abort", hpa: p * 0x1000 };
      }
    }
    if (op === "read") return { result: "ok", content: this.memory.load(by, hpa) };
    if (op === "write") {
      this.memory.store(by, hpa, content ?? { k: "zero" });
      return { result: "ok" };
    }
    // No memory encryption on arm64: a clear is ordinary stores of zeros, whatever it is called.
    this.memory.zero(by, hpa, pages, why ?? "clear_page");
    return { result: "ok" };
  }

  /** No shared EPT on arm64: the host maps what it shares through its own stage-1. */
  mapShared(): boolean {
    return false;
  }

  zapShared(): number {
    return 0;
  }
}
