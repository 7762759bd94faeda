// PAMT: the module's record of which physical pages belong to a TD and as what. One owner per
// page is what makes remapping and aliasing impossible (intel/tdx-module
// src/common/memory_handlers/pamt_manager.c, TDX 1.5).
export type PageType = "PT_TDR" | "PT_TDVPR" | "PT_EPT" | "PT_REG";

export interface PamtEntry {
  type: PageType;
  /** Pages covered: 1 (4K) or 512 (2M). */
  pages: number;
  /** GPA the page maps, for PT_REG. */
  gpa?: number;
}

export class Pamt {
  private readonly entries = new Map<number, PamtEntry>();

  /** The entry covering a pfn: its own, or the 2M entry of its aligned base. */
  lookup(pfn: number): { base: number; entry: PamtEntry } | undefined {
    const own = this.entries.get(pfn);
    if (own) return { base: pfn, entry: own };
    const base = pfn - (pfn % 512);
    const big = this.entries.get(base);
    return big && big.pages === 512 ? { base, entry: big } : undefined;
  }

  /** True if no page in [pfn, pfn + pages) belongs to the TD. */
  isFree(pfn: number, pages: number): boolean {
    if (this.lookup(pfn)) return false;
    if (pages === 1) return true;
    for (let p = pfn; p < pfn + pages; p++) if (this.entries.has(p)) return false;
    return true;
  }

  assign(pfn: number, entry: PamtEntry): void {
    this.entries.set(pfn, entry);
  }

  release(pfn: number): void {
    this.entries.delete(pfn);
  }

  /** Split a 2M entry into 512 4K entries (DEMOTE), or merge them back (PROMOTE). */
  split(base: number, gpa: number): void {
    this.entries.delete(base);
    for (let i = 0; i < 512; i++)
      this.entries.set(base + i, { type: "PT_REG", pages: 1, gpa: gpa + i * 0x1000 });
  }

  merge(base: number, gpa: number): void {
    for (let i = 0; i < 512; i++) this.entries.delete(base + i);
    this.entries.set(base, { type: "PT_REG", pages: 512, gpa });
  }

  *owned(): Generator<[number, PamtEntry]> {
    yield* this.entries;
  }

  get size(): number {
    return this.entries.size;
  }
}
