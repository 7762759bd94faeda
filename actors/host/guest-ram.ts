// The memory behind a VM's guest RAM as the VMM maps it, kept by the host kernel: anonymous memory
// (zero-filled on first touch, then pinned: QEMU/crosvm RAM; TDX's shared half), or on pKVM's
// `gmem` host a guest_memfd that the VMM mmaps, where only pages the guest shared can be mapped
// (GUEST_MEMFD_FLAG_MMAP, the 2026 in-place conversion series). The VMM reads its own mapping;
// KVM faults pages in (get_user_pages / kvm_gmem_get_pfn) and frees them.
import { PAGE_4K } from "../../protocol/index.ts";
import { call, type Flow } from "../../src/kit/flows.ts";
import type { PartyIO } from "../../src/kit/outbox.ts";
import type { HostMemory } from "./host-memory.ts";

export type RamKind = "anonymous" | "guest_memfd";

export class GuestRam {
  /** The page backing each guest frame the host has touched: gfn -> hpa. */
  private readonly pages = new Map<number, number>();
  /** guest_memfd: frames the guest shared (the only ones the VMM's mmap may fault in). */
  private readonly shared = new Set<number>();

  constructor(
    private readonly io: PartyIO,
    private readonly memory: HostMemory,
    readonly kind: RamKind,
  ) {}

  lookup(gfn: number): number | undefined {
    return this.pages.get(gfn);
  }

  /** The page for a guest frame, allocated and zero-filled by the host kernel on first touch. */
  *faultIn(gfn: number): Flow<number> {
    let hpa = this.pages.get(gfn);
    if (hpa === undefined) {
      hpa = this.memory.alloc4K();
      this.pages.set(gfn, hpa);
      const why = this.kind === "guest_memfd" ? "guest_memfd first use" : "anonymous page first touch";
      yield* call("hw", { type: "host.access", op: "clear", hpa, why });
      if (this.kind === "guest_memfd")
        this.io.effect({ e: "gmem", by: "host/kvm", gpa: gfn * PAGE_4K, hpa, pages: 1, op: "alloc" });
    }
    return hpa;
  }

  /** The page goes back to the host allocator, contents as they are (madvise, PUNCH_HOLE). */
  discard(gfn: number): void {
    const hpa = this.pages.get(gfn);
    if (hpa === undefined) return;
    this.pages.delete(gfn);
    this.memory.free(hpa, 1);
    if (this.kind === "guest_memfd")
      this.io.effect({ e: "gmem", by: "host/kvm", gpa: gfn * PAGE_4K, hpa, pages: 1, op: "free" });
  }

  /** Every page in [gpa, gpa + size) discarded, visiting whichever is fewer: the range or the pages. */
  discardRange(gpa: number, size: number): void {
    const first = gpa / PAGE_4K;
    const count = size / PAGE_4K;
    if (count <= this.pages.size) for (let gfn = first; gfn < first + count; gfn++) this.discard(gfn);
    else for (const gfn of [...this.pages.keys()]) if (gfn >= first && gfn < first + count) this.discard(gfn);
  }

  /** The host no longer backs this frame with that page (given back by the guest, not freed). */
  forget(gfn: number): void {
    this.pages.delete(gfn);
  }

  /** Teardown: every page back to the allocator. */
  releaseAll(): void {
    for (const hpa of this.pages.values()) this.memory.free(hpa, 1);
  }

  /** guest_memfd: the guest shared the frame (MEM_SHARE) or took it back. */
  setShared(gfn: number, shared: boolean): void {
    if (shared) this.shared.add(gfn);
    else this.shared.delete(gfn);
  }

  /** What the VMM's own load at a guest frame reaches: the page, nothing yet, or SIGBUS (private). */
  vmmView(gfn: number): { hpa: number } | "unbacked" | "SIGBUS" {
    const hpa = this.pages.get(gfn);
    if (hpa === undefined) return "unbacked";
    if (this.kind === "guest_memfd" && !this.shared.has(gfn)) return "SIGBUS";
    return { hpa };
  }
}
