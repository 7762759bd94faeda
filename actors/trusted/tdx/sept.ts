// The Secure EPT, sparse: 1G-level tables that exist, then one entry per 2M region. A 2M leaf is
// one entry until DEMOTE splits it into a table of 4K leaves.
// Simplified: levels above 1G (PML4/PML5) are assumed present from TD creation; no 1G leaves.
import type { Level, SeptState } from "../../../protocol/index.ts";
import type { LeafState, NonLeafState } from "./sept-table.ts";

export interface Leaf {
  state: LeafState;
  level: Level;
  hpa: number;
  /** TD epoch when the entry was blocked (for the "tracked" predicate). */
  blockEpoch: number;
}

export interface NonLeaf {
  state: NonLeafState;
  /** The S-EPT page holding the child table. */
  spt: number;
  blockEpoch: number;
  /** How many of its 512 4K leaves are present (they live in SecureEpt's one map of 4K leaves). */
  childCount: number;
}

/** What a walk to (gpa, level) finds. */
export type Walk =
  | { kind: "entry"; state: SeptState; leaf?: Leaf; table?: NonLeaf | TableEntry }
  /** A parent table is missing: the walk stopped at `level`, whose entry is FREE. */
  | { kind: "walk-failed"; level: Level }
  /** A leaf at a larger level covers the GPA. */
  | { kind: "larger-leaf"; leaf: Leaf };

/** A 1G-level entry pointing to a table of 2M entries. */
export interface TableEntry {
  state: NonLeafState;
  spt: number;
  blockEpoch: number;
}

export const idx2M = (gpa: number): number => Math.floor(gpa / 0x200000);
export const idx1G = (gpa: number): number => Math.floor(gpa / 0x40000000);
export const idx4KIn2M = (gpa: number): number => Math.floor(gpa / 0x1000) % 512;
const idx4K = (gpa: number): number => Math.floor(gpa / 0x1000);

export class SecureEpt {
  readonly tables1G = new Map<number, TableEntry>();
  readonly entries2M = new Map<number, Leaf | NonLeaf>();
  /**
   * 4K leaves of every 2M table, by 4K page number. One map, not one per table: a guest touching
   * scattered pages has a table per page, and a Map per table cost ~200 bytes for its one entry.
   */
  private readonly leaves4K = new Map<number, Leaf>();

  walk(gpa: number, level: Level): Walk {
    if (level === 2) {
      const t = this.tables1G.get(idx1G(gpa));
      return t ? { kind: "entry", state: t.state, table: t } : { kind: "entry", state: "FREE" };
    }
    if (!this.tables1G.has(idx1G(gpa))) return { kind: "walk-failed", level: 2 };
    const e = this.entries2M.get(idx2M(gpa));
    if (level === 1) {
      if (!e) return { kind: "entry", state: "FREE" };
      return isLeaf(e)
        ? { kind: "entry", state: e.state, leaf: e }
        : { kind: "entry", state: e.state, table: e };
    }
    // A blocked table has no access bits: the module's walk stops there, as at a missing one.
    if (!e || e.state === "NL_BLOCKED") return { kind: "walk-failed", level: 1 };
    if (isLeaf(e)) return { kind: "larger-leaf", leaf: e };
    const child = this.leaves4K.get(idx4K(gpa));
    return child ? { kind: "entry", state: child.state, leaf: child } : { kind: "entry", state: "FREE" };
  }

  /** The leaf mapping a GPA at any level, for translation. */
  leafFor(gpa: number): Leaf | undefined {
    const e = this.entries2M.get(idx2M(gpa));
    if (!e || e.state === "NL_BLOCKED") return undefined;
    return isLeaf(e) ? e : this.leaves4K.get(idx4K(gpa));
  }

  /** The 4K leaf at a GPA under its 2M table, whatever the table's state. */
  child(gpa: number): Leaf | undefined {
    return this.leaves4K.get(idx4K(gpa));
  }

  /**
   * PROMOTE's condition on the 2M table holding a GPA: its first leaf if all 512 are present, in
   * one state, and map a contiguous, 2M-aligned run of pages; else undefined.
   */
  uniformChildren(gpa: number): Leaf | undefined {
    const table = this.entries2M.get(idx2M(gpa));
    if (!table || isLeaf(table) || table.childCount !== 512) return undefined;
    const base = idx4K(gpa) - idx4KIn2M(gpa);
    const first = this.leaves4K.get(base);
    if (!first || first.hpa % 0x200000 !== 0) return undefined;
    for (let i = 1; i < 512; i++) {
      const c = this.leaves4K.get(base + i);
      if (!c || c.state !== first.state || c.hpa !== first.hpa + i * 0x1000) return undefined;
    }
    return first;
  }

  setLeaf(gpa: number, leaf: Leaf): void {
    if (leaf.level === 1) {
      // A 2M leaf replacing a table (PROMOTE) takes the place of its 4K leaves.
      this.dropChildren(gpa);
      this.entries2M.set(idx2M(gpa), leaf);
      return;
    }
    const table = this.entries2M.get(idx2M(gpa));
    if (!table || isLeaf(table)) throw new Error(`bug: no 4K table at ${gpa.toString(16)}`);
    if (!this.leaves4K.has(idx4K(gpa))) table.childCount++;
    this.leaves4K.set(idx4K(gpa), leaf);
  }

  clearLeaf(gpa: number, level: Level): void {
    if (level === 1) {
      this.dropChildren(gpa);
      this.entries2M.delete(idx2M(gpa));
      return;
    }
    const table = this.entries2M.get(idx2M(gpa));
    if (table && !isLeaf(table) && this.leaves4K.delete(idx4K(gpa))) table.childCount--;
  }

  /** Whatever 4K leaves the 2M entry at a GPA holds go with it, as a table's did when it was dropped. */
  private dropChildren(gpa: number): void {
    const old = this.entries2M.get(idx2M(gpa));
    if (!old || isLeaf(old)) return;
    for (let i = 0, at = idx4K(gpa) - idx4KIn2M(gpa); i < 512; i++) this.leaves4K.delete(at + i);
  }

  /** Every leaf, for teardown and invariant checks: [gpa, leaf]. */
  *leaves(): Generator<[number, Leaf]> {
    for (const [i2m, e] of this.entries2M) {
      if (isLeaf(e)) yield [i2m * 0x200000, e];
      else
        for (let i = 0; i < 512; i++) {
          const leaf = this.leaves4K.get(i2m * 512 + i);
          if (leaf) yield [i2m * 0x200000 + i * 0x1000, leaf];
        }
    }
  }
}

export const isLeaf = (e: Leaf | NonLeaf): e is Leaf => "hpa" in e;
