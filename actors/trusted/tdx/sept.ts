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
  /** 4K leaves by index within the 2M region (0..511). */
  children: Map<number, Leaf>;
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

export class SecureEpt {
  readonly tables1G = new Map<number, TableEntry>();
  readonly entries2M = new Map<number, Leaf | NonLeaf>();

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
    const child = e.children.get(idx4KIn2M(gpa));
    return child ? { kind: "entry", state: child.state, leaf: child } : { kind: "entry", state: "FREE" };
  }

  /** The leaf mapping a GPA at any level, for translation. */
  leafFor(gpa: number): Leaf | undefined {
    const e = this.entries2M.get(idx2M(gpa));
    if (!e || e.state === "NL_BLOCKED") return undefined;
    return isLeaf(e) ? e : e.children.get(idx4KIn2M(gpa));
  }

  setLeaf(gpa: number, leaf: Leaf): void {
    if (leaf.level === 1) {
      this.entries2M.set(idx2M(gpa), leaf);
      return;
    }
    const table = this.entries2M.get(idx2M(gpa));
    if (!table || isLeaf(table)) throw new Error(`bug: no 4K table at ${gpa.toString(16)}`);
    table.children.set(idx4KIn2M(gpa), leaf);
  }

  clearLeaf(gpa: number, level: Level): void {
    if (level === 1) {
      this.entries2M.delete(idx2M(gpa));
      return;
    }
    const table = this.entries2M.get(idx2M(gpa));
    if (table && !isLeaf(table)) table.children.delete(idx4KIn2M(gpa));
  }

  /** Every leaf, for teardown and invariant checks: [gpa, leaf]. */
  *leaves(): Generator<[number, Leaf]> {
    for (const [i2m, e] of this.entries2M) {
      if (isLeaf(e)) yield [i2m * 0x200000, e];
      else for (const [i4k, leaf] of e.children) yield [i2m * 0x200000 + i4k * 0x1000, leaf];
    }
  }
}

export const isLeaf = (e: Leaf | NonLeaf): e is Leaf => "hpa" in e;
