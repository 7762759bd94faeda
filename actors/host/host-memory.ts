// The host's physical memory allocator: which frames the host hands to guest_memfd, to the TDX
// module (S-EPT, TDR, TDVPR pages) and to the VMM's shared memory. Deterministic: lowest free
// frame first, 2M-aligned chunks for huge folios.
const PAGES_PER_2M = 512;

export class HostMemory {
  private next4K: number;
  private next2M: number;
  private readonly free4K: number[] = [];
  private readonly free2M: number[] = [];

  /** Frames come from two pools far apart so 4K and 2M allocations never collide. */
  constructor(base4K = 0x1_0000_0000, base2M = 0x100_0000_0000) {
    this.next4K = base4K / 0x1000;
    this.next2M = base2M / 0x1000;
  }

  alloc4K(): number {
    const pfn = this.free4K.pop() ?? this.next4K++;
    return pfn * 0x1000;
  }

  alloc2M(): number {
    const pfn = this.free2M.pop() ?? this.take2M();
    return pfn * 0x1000;
  }

  free(hpa: number, pages: number): void {
    const pfn = hpa / 0x1000;
    if (pages === PAGES_PER_2M) this.free2M.push(pfn);
    else this.free4K.push(pfn);
  }

  private take2M(): number {
    const pfn = this.next2M;
    this.next2M += PAGES_PER_2M;
    return pfn;
  }
}
