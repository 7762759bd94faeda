// A map from page addresses to page addresses (a GPA to the frame behind it), kept as page
// numbers. A 1 TiB guest's GPAs and frames lie past 2^31, where V8 stores a number in a Map as a
// boxed heap number, key and value each; their page numbers stay small integers it keeps inline.
// Iterates in insertion order with the addresses given, as a Map<number, number> would.
import { PAGE_4K } from "../../protocol/index.ts";

export class PageMap {
  private readonly pages = new Map<number, number>();

  get size(): number {
    return this.pages.size;
  }

  get(address: number): number | undefined {
    const page = this.pages.get(address / PAGE_4K);
    return page === undefined ? undefined : page * PAGE_4K;
  }

  has(address: number): boolean {
    return this.pages.has(address / PAGE_4K);
  }

  set(address: number, value: number): this {
    this.pages.set(address / PAGE_4K, value / PAGE_4K);
    return this;
  }

  delete(address: number): boolean {
    return this.pages.delete(address / PAGE_4K);
  }

  clear(): void {
    this.pages.clear();
  }

  *keys(): Generator<number> {
    for (const page of this.pages.keys()) yield page * PAGE_4K;
  }

  *values(): Generator<number> {
    for (const page of this.pages.values()) yield page * PAGE_4K;
  }

  *entries(): Generator<[number, number]> {
    for (const [key, value] of this.pages) yield [key * PAGE_4K, value * PAGE_4K];
  }

  [Symbol.iterator](): Generator<[number, number]> {
    return this.entries();
  }
}
