// `cocomem log --around SEQ,N`: the line with that seq, and the N lines before it and the N after
// it that pass the filters. The lines before wait in a ring of N until the anchor comes by, so a
// window of any log holds at most N lines.
export class AroundWindow<T> {
  private readonly ring: T[] = [];
  /** Where the next line before the anchor goes in the ring. */
  private next = 0;
  /** Lines let out after the anchor; -1 until the anchor was read. */
  private after = -1;

  constructor(
    readonly anchor: number,
    readonly context: number,
  ) {}

  /** Whether the line with the anchor's seq was read. */
  get found(): boolean {
    return this.after >= 0;
  }

  /** Whether the window is full: the lines after it do not matter. */
  get done(): boolean {
    return this.after >= this.context;
  }

  /**
   * The items to let out for the next line: `seq` is undefined for the header, which has none.
   * The anchor is let out whatever the filters say: it is the line asked for.
   */
  add(seq: number | undefined, item: T, matches: boolean): T[] {
    if (seq === this.anchor && !this.found) {
      this.after = 0;
      return [...this.ring.slice(this.next), ...this.ring.slice(0, this.next), item];
    }
    if (!matches || seq === undefined || this.done) return [];
    if (this.found) {
      this.after++;
      return [item];
    }
    if (this.context > 0) {
      this.ring[this.next] = item;
      this.next = (this.next + 1) % this.context;
    }
    return [];
  }
}
