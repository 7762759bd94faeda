// A set of integers kept as sorted, disjoint, non-touching [start, end) intervals: memory
// attributes, accepted ranges and guest views of a 1 TiB guest cost a few entries, not one per
// page. The intervals live in a B+ tree keyed by start (sorted-btree), so a guest touching a million
// scattered pages pays O(log n) per update, not a rebuild of every interval.
import sortedBtree from "sorted-btree";

// A CommonJS package: Node's ESM loader (and so tsc) hands over module.exports, with the class on
// `default`; vitest's loader hands over the class itself.
const BTree: typeof sortedBtree.default =
  sortedBtree.default ?? (sortedBtree as unknown as typeof sortedBtree.default);

/** Keys are plain numbers: a subtraction is faster than the library's type-checking default. */
const byNumber = (a: number, b: number): number => a - b;

export class RangeSet {
  /** start -> end of each interval. */
  private readonly intervals = new BTree<number, number>(undefined, byNumber);

  /** Number of disjoint intervals (for tests and for figures, not for the model's decisions). */
  get intervalCount(): number {
    return this.intervals.size;
  }

  has(value: number): boolean {
    const at = this.intervals.getPairOrNextLower(value);
    return at !== undefined && value < at[1];
  }

  /** True if every value in [start, end) is in the set (an empty range is covered). */
  covers(start: number, end: number): boolean {
    if (end <= start) return true;
    const at = this.intervals.getPairOrNextLower(start);
    return at !== undefined && end <= at[1];
  }

  /** True if any value in [start, end) is in the set (never for an empty range). */
  intersects(start: number, end: number): boolean {
    if (end <= start) return false;
    const at = this.intervals.getPairOrNextLower(end - 1);
    return at !== undefined && at[1] > start;
  }

  add(start: number, end: number): void {
    if (end <= start) return;
    // Merge with an interval that overlaps or touches on the left...
    const left = this.intervals.getPairOrNextLower(start);
    if (left !== undefined && left[1] >= start) {
      if (left[1] >= end) return;
      start = left[0];
    }
    // ...and swallow every interval starting inside (start, end], touching on the right included.
    const right = this.intervals.nextHigherPair(start);
    if (right !== undefined && right[0] <= end) {
      this.intervals.forRange(right[0], end, true, (_, e) => {
        if (e > end) end = e;
      });
      this.intervals.deleteRange(right[0], end, true);
    }
    this.intervals.set(start, end);
  }

  remove(start: number, end: number): void {
    if (end <= start) return;
    // An interval starting before `start` keeps its left part, and its right part if it goes past `end`.
    const left = this.intervals.nextLowerPair(start);
    if (left !== undefined && left[1] > start) {
      this.intervals.set(left[0], start);
      if (left[1] > end) this.intervals.set(end, left[1]);
    }
    // Intervals starting inside [start, end) go; the last of them may leave a part past `end`.
    const first = this.intervals.getPairOrNextHigher(start);
    if (first === undefined || first[0] >= end) return;
    let tail = end;
    this.intervals.forRange(first[0], end, false, (_, e) => {
      if (e > tail) tail = e;
    });
    this.intervals.deleteRange(first[0], end, false);
    if (tail > end) this.intervals.set(end, tail);
  }
}
