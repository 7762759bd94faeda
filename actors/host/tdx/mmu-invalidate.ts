// KVM's invalidation sequence (virt/kvm/kvm_main.c, v7.0): kvm_mmu_invalidate_begin() counts
// invalidations in progress and kvm_mmu_invalidate_range_add() widens ONE range, the union of
// every range being invalidated; kvm_mmu_invalidate_end() bumps the sequence. A fault notes the
// sequence before it looks up its page and, under mmu_lock, retries if the sequence moved or its
// GFN is inside the range while any invalidation runs (mmu_invalidate_retry_gfn()). Overlapping
// invalidations (a conversion and a hole punch at once) keep the range until the last one ends.

export class MmuInvalidation {
  /** kvm->mmu_invalidate_seq. */
  seq = 0;
  /** kvm->mmu_invalidate_in_progress. */
  private inProgress = 0;
  /** kvm->mmu_invalidate_range_start / _end (GPAs here): the union of the ranges in progress. */
  private start = 0;
  private end = 0;

  /** kvm_mmu_invalidate_begin() + kvm_mmu_invalidate_range_add() for each range. */
  begin(ranges: readonly (readonly [number, number])[]): void {
    if (++this.inProgress === 1) {
      this.start = Number.POSITIVE_INFINITY;
      this.end = Number.NEGATIVE_INFINITY;
    }
    for (const [start, end] of ranges) {
      this.start = Math.min(this.start, start);
      this.end = Math.max(this.end, end);
    }
  }

  /** kvm_mmu_invalidate_end(). */
  finish(): void {
    this.seq++;
    if (--this.inProgress < 0) throw new Error("bug: kvm_mmu_invalidate_end() without a begin");
  }

  /** mmu_invalidate_retry_gfn_unsafe(), before the lock: an invalidation covers the GPA now. */
  covers(gpa: number): boolean {
    return this.inProgress > 0 && gpa >= this.start && gpa < this.end;
  }

  /** mmu_invalidate_retry_gfn(), under mmu_lock: the fault that noted `seq` must retry. */
  mustRetry(seq: number, gpa: number): boolean {
    return this.covers(gpa) || this.seq !== seq;
  }
}
