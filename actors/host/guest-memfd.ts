// guest_memfd: the private backing store of one VM, indexed by file offset. Pages are allocated
// on first use and zeroed then ("prepared", as kvm_gmem_get_pfn clears a fresh folio), never on
// free. Punching a hole frees pages but leaves memory attributes alone.
import { PAGE_2M, PAGE_4K } from "../../protocol/index.ts";

export interface GmemPage {
  readonly hpa: number;
  /** 1 (4K folio) or 512 (2M folio). */
  readonly pages: number;
  readonly prepared: boolean;
}

/**
 * A folio packed in one number, as a million-page guest has a million of them (an object each
 * was ~100 bytes more): the host page number times 4, plus 2 for a 2M folio, plus 1 once prepared.
 */
const pack = (folio: GmemPage): number =>
  (folio.hpa / PAGE_4K) * 4 + (folio.pages === 512 ? 2 : 0) + (folio.prepared ? 1 : 0);

function unpack(packed: number): GmemPage {
  const flags = packed % 4;
  return { hpa: ((packed - flags) / 4) * PAGE_4K, pages: flags >= 2 ? 512 : 1, prepared: flags % 2 === 1 };
}

export class GuestMemfd {
  /** Folios by the page number of their first byte's offset. A 2M folio is one entry. */
  private readonly folios = new Map<number, number>();

  constructor(
    readonly fd: number,
    readonly size: number,
  ) {}

  /** The folio covering an offset, if allocated: [its offset, folio]. */
  lookup(offset: number): [number, GmemPage] | undefined {
    const small = offset - (offset % PAGE_4K);
    const own = this.folios.get(small / PAGE_4K);
    if (own !== undefined) return [small, unpack(own)];
    const base = offset - (offset % PAGE_2M);
    const big = this.folios.get(base / PAGE_4K);
    return big !== undefined && big % 4 >= 2 ? [base, unpack(big)] : undefined;
  }

  insert(offset: number, page: GmemPage): void {
    this.folios.set(offset / PAGE_4K, pack(page));
  }

  /** The folio at `offset` has been cleared for the guest (kvm_gmem_prepare_folio). */
  markPrepared(offset: number): void {
    const packed = this.folios.get(offset / PAGE_4K);
    if (packed !== undefined && packed % 2 === 0) this.folios.set(offset / PAGE_4K, packed + 1);
  }

  remove(offset: number): void {
    this.folios.delete(offset / PAGE_4K);
  }

  /** Allocated folios overlapping [offset, offset + len). */
  within(offset: number, len: number): [number, GmemPage][] {
    const out: [number, GmemPage][] = [];
    if (len / PAGE_4K <= this.folios.size) {
      for (let at = offset - (offset % PAGE_2M); at < offset + len; at += PAGE_4K) {
        const packed = this.folios.get(at / PAGE_4K);
        if (packed === undefined) continue;
        const page = unpack(packed);
        if (at + page.pages * PAGE_4K > offset) out.push([at, page]);
      }
    } else {
      for (const [index, packed] of this.folios) {
        const at = index * PAGE_4K;
        const page = unpack(packed);
        if (at < offset + len && at + page.pages * PAGE_4K > offset) out.push([at, page]);
      }
    }
    return out.sort((a, b) => a[0] - b[0]);
  }

  *all(): Generator<[number, GmemPage]> {
    for (const [index, packed] of this.folios) yield [index * PAGE_4K, unpack(packed)];
  }
}
