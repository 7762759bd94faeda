// guest_memfd: the private backing store of one VM, indexed by file offset. Pages are allocated
// on first use and zeroed then ("prepared", as kvm_gmem_get_pfn clears a fresh folio), never on
// free. Punching a hole frees pages but leaves memory attributes alone.
import { PAGE_2M, PAGE_4K } from "../../protocol/index.ts";

export interface GmemPage {
  hpa: number;
  /** 1 (4K folio) or 512 (2M folio). */
  pages: number;
  prepared: boolean;
}

export class GuestMemfd {
  /** Folios by offset of their first byte. A 2M folio is one entry. */
  private readonly folios = new Map<number, GmemPage>();

  constructor(
    readonly fd: number,
    readonly size: number,
  ) {}

  /** The folio covering an offset, if allocated: [its offset, folio]. */
  lookup(offset: number): [number, GmemPage] | undefined {
    const small = this.folios.get(offset - (offset % PAGE_4K));
    if (small) return [offset - (offset % PAGE_4K), small];
    const base = offset - (offset % PAGE_2M);
    const big = this.folios.get(base);
    return big && big.pages === 512 ? [base, big] : undefined;
  }

  insert(offset: number, page: GmemPage): void {
    this.folios.set(offset, page);
  }

  remove(offset: number): void {
    this.folios.delete(offset);
  }

  /** Allocated folios overlapping [offset, offset + len). */
  within(offset: number, len: number): [number, GmemPage][] {
    const out: [number, GmemPage][] = [];
    if (len / PAGE_4K <= this.folios.size) {
      for (let at = offset - (offset % PAGE_2M); at < offset + len; at += PAGE_4K) {
        const page = this.folios.get(at);
        if (page && at + page.pages * PAGE_4K > offset) out.push([at, page]);
      }
    } else {
      for (const [at, page] of this.folios)
        if (at < offset + len && at + page.pages * PAGE_4K > offset) out.push([at, page]);
    }
    return out.sort((a, b) => a[0] - b[0]);
  }

  *all(): Generator<[number, GmemPage]> {
    yield* this.folios;
  }
}
