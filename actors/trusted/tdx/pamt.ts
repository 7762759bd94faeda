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

const PAGE_TYPES: readonly PageType[] = ["PT_TDR", "PT_TDVPR", "PT_EPT", "PT_REG"];

/**
 * An entry packed in one number, as a million-page guest has a million of them (an object and its
 * boxed GPA were ~60 bytes more each): bit 0 is the size (2M), bits 1-2 the type, and the rest the
 * GPA's page number plus one (0: no GPA). Below 2^53 for any 52-bit GPA.
 */
function pack(entry: PamtEntry): number {
  const { gpa } = entry;
  if (gpa !== undefined && gpa % 0x1000 !== 0) throw new Error(`bug: PAMT entry for unaligned GPA ${gpa}`);
  const gpaPlusOne = gpa === undefined ? 0 : gpa / 0x1000 + 1;
  return (gpaPlusOne * 4 + PAGE_TYPES.indexOf(entry.type)) * 2 + (entry.pages === 512 ? 1 : 0);
}

function unpack(packed: number): PamtEntry {
  const pages = packed % 2 === 1 ? 512 : 1;
  const type = PAGE_TYPES[Math.floor(packed / 2) % 4]!;
  const gpaPlusOne = Math.floor(packed / 8);
  return gpaPlusOne === 0 ? { type, pages } : { type, pages, gpa: (gpaPlusOne - 1) * 0x1000 };
}

export class Pamt {
  private readonly entries = new Map<number, number>();

  /** The entry covering a pfn: its own, or the 2M entry of its aligned base. */
  lookup(pfn: number): { base: number; entry: PamtEntry } | undefined {
    const own = this.entries.get(pfn);
    if (own !== undefined) return { base: pfn, entry: unpack(own) };
    const base = pfn - (pfn % 512);
    const big = this.entries.get(base);
    return big !== undefined && big % 2 === 1 ? { base, entry: unpack(big) } : undefined;
  }

  /** True if no page in [pfn, pfn + pages) belongs to the TD. */
  isFree(pfn: number, pages: number): boolean {
    if (this.lookup(pfn)) return false;
    if (pages === 1) return true;
    for (let p = pfn; p < pfn + pages; p++) if (this.entries.has(p)) return false;
    return true;
  }

  assign(pfn: number, entry: PamtEntry): void {
    this.entries.set(pfn, pack(entry));
  }

  release(pfn: number): void {
    this.entries.delete(pfn);
  }

  /** Split a 2M entry into 512 4K entries (DEMOTE), or merge them back (PROMOTE). */
  split(base: number, gpa: number): void {
    this.entries.delete(base);
    for (let i = 0; i < 512; i++) this.assign(base + i, { type: "PT_REG", pages: 1, gpa: gpa + i * 0x1000 });
  }

  merge(base: number, gpa: number): void {
    for (let i = 0; i < 512; i++) this.entries.delete(base + i);
    this.assign(base, { type: "PT_REG", pages: 512, gpa });
  }

  *owned(): Generator<[number, PamtEntry]> {
    for (const [pfn, packed] of this.entries) yield [pfn, unpack(packed)];
  }

  get size(): number {
    return this.entries.size;
  }
}
