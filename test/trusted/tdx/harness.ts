// Test harness for the TDX module: a fresh TdxModule with its own frames and effects, driven only
// through the module's own calls (create + keyConfig + init, then SEPT.ADD, PAGE.ADD, AUG, ACCEPT,
// BLOCK, TRACK, DEMOTE, PROMOTE...). Not a test file itself (vitest only picks up *.test.ts).
import { expect } from "vitest";
import { TdxModule } from "../../../actors/trusted/tdx/module.ts";
import type { Leaf, NonLeaf, TableEntry } from "../../../actors/trusted/tdx/sept.ts";
import { isLeaf } from "../../../actors/trusted/tdx/sept.ts";
import type { OpState } from "../../../actors/trusted/tdx/sept-table.ts";
import type { Level, SeptState, U64 } from "../../../protocol/index.ts";
import { FrameStore, pfnOf } from "../../../src/hardware/frames.ts";
import { PartyIO } from "../../../src/kit/outbox.ts";

export const SUCCESS = "0x0000000000000000";
export const HKID = 7;
export const TDR = 0x0100_0000;
/** A host page PAGE.ADD copies from. */
export const SOURCE = 0x0200_0000;
/** The 1G region every test works in (index 1, so GPA 0 stays untouched). */
export const G1 = 0x4000_0000;
export const GPA_2M = G1 + 0x20_0000;
export const GPA_4K = GPA_2M + 0x3000;
export const PAGE = 0x1000;
export const HUGE = 0x20_0000;

/** The GPA the tests target at each level. */
export const gpaAt = (level: Level): number => [GPA_4K, GPA_2M, G1][level]!;

export const ok = (status: U64 | undefined): void => {
  expect(status).toBe(SUCCESS);
};

/** A TD with a configured key, as after TDH.MNG.CREATE + KEY.CONFIG + INIT. */
export class Td {
  readonly frames = new FrameStore();
  readonly io = new PartyIO();
  readonly m = new TdxModule(this.frames, this.io);
  private next4K = 0x1000_0000;
  private next2M = 0x8000_0000;
  private finalized = false;

  constructor() {
    ok(this.m.create({ type: "TDH.MNG.CREATE", tdr: TDR, hkid: HKID }));
    ok(this.m.keyConfig());
    ok(this.m.init({ type: "TDH.MNG.INIT", septVeDisable: true, flexiblePendingVe: false, gpaWidth: 48 }));
    this.frames.set(pfnOf(SOURCE), { content: { k: "image", tag: "src" }, keyId: 0, poisoned: false });
  }

  /** A fresh host page (4K). */
  page4K(): number {
    const hpa = this.next4K;
    this.next4K += PAGE;
    return hpa;
  }

  /** A fresh, 2M-aligned host range. */
  page2M(): number {
    const hpa = this.next2M;
    this.next2M += HUGE;
    return hpa;
  }

  /** TDH.MEM.SEPT.ADD of the table covering `gpa` at `level` (2 = the 1G entry, 1 = the 2M entry). */
  table(gpa: number, level: 1 | 2, op: OpState = "INITIALIZED"): number {
    const size = level === 2 ? 0x4000_0000 : HUGE;
    const hpa = this.page4K();
    ok(this.m.septAdd({ type: "TDH.MEM.SEPT.ADD", gpa: gpa - (gpa % size), level, hpa }, op));
    return hpa;
  }

  pageAdd(gpa: number, hpa = this.page4K()): number {
    ok(this.m.pageAdd({ type: "TDH.MEM.PAGE.ADD", gpa, hpa, source: SOURCE }, "INITIALIZED"));
    return hpa;
  }

  finalize(): void {
    if (this.finalized) return;
    ok(this.m.finalize());
    this.finalized = true;
  }

  aug(gpa: number, level: Level, hpa = level === 1 ? this.page2M() : this.page4K()): number {
    ok(this.m.aug({ type: "TDH.MEM.PAGE.AUG", gpa, level, hpa }, "RUNNABLE"));
    return hpa;
  }

  accept(gpa: number, level: Level): void {
    ok(this.m.accept({ type: "TDG.MEM.PAGE.ACCEPT", gpa, level }));
  }

  block(gpa: number, level: Level, op: OpState): void {
    ok(this.m.block({ type: "TDH.MEM.RANGE.BLOCK", gpa, level }, op));
  }

  /**
   * The 2M entry at GPA_2M becomes NL_MAPPED over 512 MAPPED 4K leaves backed by one contiguous,
   * 2M-aligned range (the only shape PROMOTE takes). Before finalize: 512 x PAGE.ADD. After: AUG
   * 2M, ACCEPT 2M, BLOCK, TRACK, DEMOTE (the huge-page split path). Returns the backing base.
   */
  uniformTable(op: OpState): number {
    const base = this.page2M();
    if (op === "RUNNABLE") {
      this.finalize();
      this.aug(GPA_2M, 1, base);
      this.accept(GPA_2M, 1);
      this.block(GPA_2M, 1, op);
      ok(this.m.track());
      ok(this.m.demote({ type: "TDH.MEM.PAGE.DEMOTE", gpa: GPA_2M, level: 1, hpa: this.page4K() }, op));
    } else {
      this.table(GPA_2M, 1);
      for (let i = 0; i < 512; i++) this.pageAdd(GPA_2M + i * PAGE, base + i * PAGE);
    }
    return base;
  }

  /** A MAPPED leaf at (gpa, level), by the path the op state allows. */
  mapped(gpa: number, level: Level, op: OpState): void {
    if (level === 0) {
      if (op === "RUNNABLE") {
        this.finalize();
        this.aug(gpa, 0);
        this.accept(gpa, 0);
      } else {
        this.pageAdd(gpa);
      }
      return;
    }
    if (op === "RUNNABLE") {
      this.finalize();
      this.aug(gpa, 1);
      this.accept(gpa, 1);
      return;
    }
    // Before finalize a 2M MAPPED leaf can only come from PROMOTE over 512 added pages.
    this.uniformTable(op);
    this.block(gpa, 1, op);
    const promoted = this.m.promote({ type: "TDH.MEM.PAGE.PROMOTE", gpa, level: 1 }, op);
    ok(promoted.status);
  }

  /** What a walk to (gpa, level) finds: the entry state, or why there is none. */
  state(gpa: number, level: Level): SeptState | "walk-failed" | "larger-leaf" {
    const walk = this.m.sept.walk(gpa, level);
    return walk.kind === "entry" ? walk.state : walk.kind;
  }

  leaf(gpa: number, level: Level): Leaf | undefined {
    const walk = this.m.sept.walk(gpa, level);
    return walk.kind === "entry" ? walk.leaf : undefined;
  }

  table2M(gpa: number): NonLeaf | undefined {
    const entry = this.m.sept.entries2M.get(Math.floor(gpa / HUGE));
    return entry && !isLeaf(entry) ? entry : undefined;
  }

  entry(gpa: number, level: Level): Leaf | NonLeaf | TableEntry | undefined {
    const walk = this.m.sept.walk(gpa, level);
    return walk.kind === "entry" ? (walk.leaf ?? walk.table) : undefined;
  }

  /** Everything a refused call must leave alone: S-EPT, PAMT, epoch, MRTD. */
  snapshot(): string {
    const { sept, pamt } = this.m;
    return JSON.stringify({
      tables: [...sept.tables1G],
      entries: [...sept.entries2M],
      leaves: [...sept.leaves()],
      pamt: [...pamt.owned()],
      epoch: this.m.epoch,
      mrtd: this.m.measurement,
      keyState: this.m.keyState,
    });
  }
}

/** Reachable in the model: 4K entries are never non-leaf; no 1G leaves, and 1G tables cannot be blocked. */
export function reachable(level: Level, state: SeptState): boolean {
  if (level === 0) return !state.startsWith("NL_");
  if (level === 2) return state === "FREE" || state === "NL_MAPPED";
  return true;
}

/**
 * A fresh TD whose entry at gpaAt(level) is in `state`, ready for a call made in op state `op`.
 * Blocked entries are tracked (TRACK, no vCPU in guest) while RUNNABLE unless `track` is false.
 * Note: PENDING* before RUNNABLE is built with AUG although real AUG needs RUNNABLE.
 */
export function drive(state: SeptState, level: Level, op: OpState, track = true): Td {
  if (!reachable(level, state)) throw new Error(`bug in test: ${state} is unreachable at level ${level}`);
  const td = new Td();
  const gpa = gpaAt(level);
  if (level === 2) {
    if (state === "NL_MAPPED") td.table(G1, 2);
    return td;
  }
  td.table(G1, 2);
  if (level === 0) td.table(GPA_2M, 1);
  switch (state) {
    case "FREE":
      break;
    case "NL_MAPPED":
    case "NL_BLOCKED":
      td.uniformTable(op);
      if (state === "NL_BLOCKED") td.block(gpa, 1, op);
      break;
    case "MAPPED":
    case "BLOCKED":
      td.mapped(gpa, level, op);
      if (state === "BLOCKED") td.block(gpa, level, op);
      break;
    case "PENDING":
    case "PENDING_BLOCKED":
      if (op === "RUNNABLE") td.finalize();
      td.aug(gpa, level);
      if (state === "PENDING_BLOCKED") td.block(gpa, level, op);
      break;
  }
  if (track && op === "RUNNABLE" && state.endsWith("BLOCKED")) ok(td.m.track());
  expect(td.state(gpa, level)).toBe(state);
  td.io.drain();
  return td;
}
