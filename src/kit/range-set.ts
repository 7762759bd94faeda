// A set of integers kept as sorted, disjoint [start, end) intervals: memory attributes, accepted
// ranges and guest views of a 1 TiB guest cost a few entries, not one per page.
export class RangeSet {
  private starts: number[] = [];
  private ends: number[] = [];

  has(value: number): boolean {
    const i = this.indexAtOrBefore(value);
    return i >= 0 && value < this.ends[i]!;
  }

  /** True if every value in [start, end) is in the set. */
  covers(start: number, end: number): boolean {
    const i = this.indexAtOrBefore(start);
    return i >= 0 && end <= this.ends[i]!;
  }

  /** True if any value in [start, end) is in the set. */
  intersects(start: number, end: number): boolean {
    const i = this.indexAtOrBefore(end - 1);
    return i >= 0 && this.ends[i]! > start;
  }

  add(start: number, end: number): void {
    if (end <= start) return;
    this.remove(start, end);
    let i = this.indexAtOrBefore(start) + 1;
    this.starts.splice(i, 0, start);
    this.ends.splice(i, 0, end);
    // Merge with neighbours that touch.
    if (i > 0 && this.ends[i - 1] === start) {
      this.ends[i - 1] = end;
      this.starts.splice(i, 1);
      this.ends.splice(i, 1);
      i--;
    }
    if (i + 1 < this.starts.length && this.starts[i + 1] === this.ends[i]) {
      this.ends[i] = this.ends[i + 1]!;
      this.starts.splice(i + 1, 1);
      this.ends.splice(i + 1, 1);
    }
  }

  remove(start: number, end: number): void {
    if (end <= start) return;
    const starts: number[] = [];
    const ends: number[] = [];
    for (let i = 0; i < this.starts.length; i++) {
      const s = this.starts[i]!;
      const e = this.ends[i]!;
      if (e <= start || s >= end) {
        starts.push(s);
        ends.push(e);
        continue;
      }
      if (s < start) {
        starts.push(s);
        ends.push(start);
      }
      if (e > end) {
        starts.push(end);
        ends.push(e);
      }
    }
    this.starts = starts;
    this.ends = ends;
  }

  /** Index of the last interval starting at or before value, or -1. */
  private indexAtOrBefore(value: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.starts[mid]! <= value) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }
}
