// Plain loads, stores and page zeroing on physical memory, with the effect each leaves in the log.
// Both platforms' CPU models use them; what differs between them (keys, poison, the translation
// that decides whether an access may happen at all) stays in x86-tdx.ts and arm64-pkvm.ts.
import type { Address, Content, ZeroReason } from "../../protocol/index.ts";
import type { PartyIO } from "../kit/outbox.ts";
import { type FrameStore, pfnOf } from "./frames.ts";

const ZERO: Content = { k: "zero" };

export class PhysicalMemory {
  constructor(
    readonly frames: FrameStore,
    private readonly io: PartyIO,
  ) {}

  /** A load that sees the frame's content as it is (no key in the way). */
  load(by: Address, hpa: number, gpa?: number): Content {
    const seen = this.frames.get(pfnOf(hpa)).content;
    this.io.effect(
      gpa === undefined ? { e: "read", by, hpa, content: seen } : { e: "read", by, hpa, gpa, content: seen },
    );
    return seen;
  }

  /** A store with a shared (host) key: the frame holds `content`, unpoisoned. */
  store(by: Address, hpa: number, content: Content, gpa?: number): void {
    this.frames.set(pfnOf(hpa), { content, keyId: 0, poisoned: false });
    this.io.effect(
      gpa === undefined ? { e: "write", by, hpa, content } : { e: "write", by, hpa, gpa, content },
    );
  }

  /** Zero `pages` frames from `hpa` with full-line stores (clears poison and any key). */
  zero(by: Address, hpa: number, pages: number, why: ZeroReason): void {
    const first = pfnOf(hpa);
    for (let p = first; p < first + pages; p++)
      this.frames.set(p, { content: ZERO, keyId: 0, poisoned: false });
    this.io.effect({ e: "zero", by, hpa, pages, why, keyId: 0 });
  }
}
