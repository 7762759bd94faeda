// The TDX module's memory-management logic: SEAMCALLs from the host and TDCALLs from the guest,
// over the S-EPT, the PAMT and the frames. Every handler checks everything first and only then
// mutates, so a refused call changes nothing. The TD op state is owned by the XState machine
// (machine.ts) and passed in, so it exists in one place.
import { createHash } from "node:crypto";
import {
  CONFIG_FLEXIBLE_PENDING_VE,
  type GpaWidth,
  type Level,
  levelSize,
  type Request,
  type Response,
  type SeptState,
  sharedBitOf,
  TD_CTLS_PENDING_VE_DISABLE,
  type U64,
} from "../../../protocol/index.ts";
import { TDX_OPERAND_ID, type TdxStatusName, tdxStatus } from "../../../protocol/status.ts";
import { type FrameStore, pfnOf } from "../../../src/hardware/frames.ts";
import type { PartyIO } from "../../../src/kit/outbox.ts";
import { type PageType, Pamt } from "./pamt.ts";
import { idx2M, type Leaf, type NonLeaf, SecureEpt, type TableEntry } from "./sept.ts";
import { type OpState, SEPT_TABLE, type SeptCall, septRule } from "./sept-table.ts";

export const ok = (): U64 => tdxStatus("TDX_SUCCESS");
export const err = (name: TdxStatusName, operand: bigint = TDX_OPERAND_ID.RCX): U64 =>
  tdxStatus(name, operand);

/** A call's target entry, found legal for it. */
interface LegalEntry {
  state: SeptState;
  leaf: Leaf | undefined;
  table: NonLeaf | TableEntry | undefined;
  rule: { to: string; tracked?: true };
}

/** Lifecycle of the TD's key (TDR state) as teardown moves it on. */
export type KeyState = "NONE" | "HKID_ASSIGNED" | "KEYS_CONFIGURED" | "BLOCKED" | "WB_DONE" | "TEARDOWN";

export class TdxModule {
  readonly sept = new SecureEpt();
  readonly pamt = new Pamt();
  keyState: KeyState = "NONE";
  hkid = 0;
  /** ATTRIBUTES.SEPT_VE_DISABLE (bit 28), fixed at TDH.MNG.INIT. */
  septVeDisable = true;
  /** CONFIG_FLAGS.FLEXIBLE_PENDING_VE: the guest may change TD_CTLS.PENDING_VE_DISABLE. */
  flexiblePendingVe = false;
  /** TD_CTLS.PENDING_VE_DISABLE: a PENDING access exits to the host instead of a #VE (td_ept_violation.c). */
  pendingVeDisable = true;
  gpaWidth: GpaWidth = 48;
  /** TD epoch for TLB tracking; BLOCK records it, TRACK increments it. */
  epoch = 1;
  /** Entry epoch of each vCPU currently in guest mode (absent = not in the guest). */
  readonly inGuest = new Map<number, number>();
  readonly vcpus = new Map<number, { tdvpr: number; flushed: boolean }>();
  fatal: string | undefined;
  private mrtd = createHash("sha384").update("MRTD").digest("hex");

  constructor(
    private readonly frames: FrameStore,
    readonly io: PartyIO,
    /** A broken module for attack A11: ACCEPT maps the page without zeroing it. */
    private readonly mutant: { acceptWithoutZeroing?: boolean } = {},
  ) {}

  get sharedBit(): number {
    return sharedBitOf(this.gpaWidth);
  }

  /** Translation hook for the CPU (PrivateTranslation). */
  leafFor(gpa: number): Leaf | undefined {
    return this.sept.leafFor(gpa);
  }

  // ---- TD creation and build ----

  create(req: Request<"TDH.MNG.CREATE">): U64 {
    if (this.keyState !== "NONE") return err("TDX_OP_STATE_INCORRECT");
    if (!this.pamt.isFree(pfnOf(req.tdr), 1)) return err("TDX_PAGE_METADATA_INCORRECT");
    this.hkid = req.hkid;
    this.assignPage(req.tdr, "PT_TDR", 1);
    this.keyState = "HKID_ASSIGNED";
    return ok();
  }

  keyConfig(): U64 {
    if (this.keyState !== "HKID_ASSIGNED") return err("TDX_KEY_STATE_INCORRECT");
    this.keyState = "KEYS_CONFIGURED";
    return ok();
  }

  init(req: Request<"TDH.MNG.INIT">): U64 {
    if (this.keyState !== "KEYS_CONFIGURED") return err("TDX_TD_KEYS_NOT_CONFIGURED", 0n);
    this.septVeDisable = req.septVeDisable;
    this.flexiblePendingVe = req.flexiblePendingVe;
    // read_and_set_td_configurations(): td_ctls.pending_ve_disable = attributes.sept_ve_disable.
    this.pendingVeDisable = req.septVeDisable;
    this.gpaWidth = req.gpaWidth;
    return ok();
  }

  // ---- TD-scope metadata the guest reads and writes (metadata_td.c) ----

  vmRead(req: Request<"TDG.VM.RD">): Response<"TDG.VM.RD"> {
    const value =
      req.field === "CONFIG_FLAGS"
        ? this.flexiblePendingVe
          ? CONFIG_FLEXIBLE_PENDING_VE
          : 0
        : this.pendingVeDisable
          ? TD_CTLS_PENDING_VE_DISABLE
          : 0;
    return { type: "TDG.VM.RD", status: ok(), value };
  }

  /** CONFIG_FLAGS has a guest write mask of 0; TD_CTLS of bit 0, changeable only with FLEXIBLE_PENDING_VE. */
  vmWrite(req: Request<"TDG.VM.WR">): U64 {
    const writable = req.field === "TD_CTLS" ? TD_CTLS_PENDING_VE_DISABLE : 0;
    if ((req.mask & writable) === 0) return err("TDX_METADATA_FIELD_NOT_WRITABLE", 0n);
    // md_check_forbidden_bits_unchanged(): masked bits outside the write mask must keep their value.
    const current = this.vmRead({ type: "TDG.VM.RD", field: req.field }).value;
    if ((req.value & req.mask & ~writable) !== (current & req.mask & ~writable))
      return err("TDX_METADATA_FIELD_VALUE_NOT_VALID", 0n);
    const wanted = (req.value & TD_CTLS_PENDING_VE_DISABLE) !== 0;
    if (wanted !== this.pendingVeDisable && !this.flexiblePendingVe)
      return err("TDX_METADATA_FIELD_VALUE_NOT_VALID", 0n);
    this.pendingVeDisable = wanted;
    return ok();
  }

  vpCreate(req: Request<"TDH.VP.CREATE">): U64 {
    if (this.vcpus.has(req.vcpu)) return err("TDX_OPERAND_INVALID");
    if (!this.pamt.isFree(pfnOf(req.tdvpr), 1)) return err("TDX_PAGE_METADATA_INCORRECT", TDX_OPERAND_ID.RDX);
    this.assignPage(req.tdvpr, "PT_TDVPR", 1);
    this.vcpus.set(req.vcpu, { tdvpr: req.tdvpr, flushed: false });
    return ok();
  }

  finalize(): U64 {
    this.mrtd = this.extendHash("FINALIZE", 0, "");
    this.io.effect({ e: "lifecycle", by: "fw", state: "RUNNABLE", detail: `MRTD ${this.mrtd.slice(0, 16)}` });
    return ok();
  }

  // ---- S-EPT management (host side) ----

  septAdd(req: Request<"TDH.MEM.SEPT.ADD">, op: OpState): U64 {
    const found = this.legalEntry("TDH.MEM.SEPT.ADD", req.gpa, req.level, op);
    if ("status" in found) return found.status;
    if (!this.pamt.isFree(pfnOf(req.hpa), 1)) return err("TDX_PAGE_METADATA_INCORRECT", TDX_OPERAND_ID.R8);
    this.assignPage(req.hpa, "PT_EPT", 1);
    if (req.level === 2) {
      this.sept.tables1G.set(Math.floor(req.gpa / 0x40000000), {
        state: "NL_MAPPED",
        spt: req.hpa,
        blockEpoch: 0,
      });
    } else {
      this.sept.entries2M.set(idx2M(req.gpa), {
        state: "NL_MAPPED",
        spt: req.hpa,
        blockEpoch: 0,
        childCount: 0,
      });
    }
    this.septEffect(req.gpa, req.level, "FREE", "NL_MAPPED", { spt: req.hpa });
    return ok();
  }

  pageAdd(req: Request<"TDH.MEM.PAGE.ADD">, op: OpState): U64 {
    const found = this.legalEntry("TDH.MEM.PAGE.ADD", req.gpa, 0, op);
    if ("status" in found) return found.status;
    if (!this.pamt.isFree(pfnOf(req.hpa), 1)) return err("TDX_PAGE_METADATA_INCORRECT", TDX_OPERAND_ID.R8);
    const source = this.frames.get(pfnOf(req.source));
    this.io.effect({ e: "read", by: "fw", hpa: req.source, content: source.content });
    const content = source.content;
    this.assignPage(req.hpa, "PT_REG", 1, req.gpa);
    this.frames.set(pfnOf(req.hpa), { content, keyId: this.hkid, poisoned: false });
    this.io.effect({ e: "write", by: "fw", hpa: req.hpa, gpa: req.gpa, content });
    this.sept.setLeaf(req.gpa, { state: "MAPPED", level: 0, hpa: req.hpa, blockEpoch: 0 });
    this.septEffect(req.gpa, 0, "FREE", "MAPPED", { hpa: req.hpa });
    this.mrtd = this.extendHash("PAGE.ADD", req.gpa, "");
    return ok();
  }

  mrExtend(req: Request<"TDH.MR.EXTEND">, op: OpState): U64 {
    const page = req.gpa - (req.gpa % 0x1000);
    const found = this.legalEntry("TDH.MR.EXTEND", page, 0, op);
    if ("status" in found) return found.status;
    const content = this.frames.get(pfnOf(found.leaf!.hpa)).content;
    this.mrtd = this.extendHash("MR.EXTEND", req.gpa, JSON.stringify(content));
    return ok();
  }

  aug(req: Request<"TDH.MEM.PAGE.AUG">, op: OpState): U64 {
    const found = this.legalEntry("TDH.MEM.PAGE.AUG", req.gpa, req.level, op);
    if ("status" in found) return found.status;
    const pages = levelSize(req.level) / 0x1000;
    if (req.hpa % levelSize(req.level) !== 0) return err("TDX_OPERAND_INVALID", TDX_OPERAND_ID.R8);
    if (!this.pamt.isFree(pfnOf(req.hpa), pages))
      return err("TDX_PAGE_METADATA_INCORRECT", TDX_OPERAND_ID.R8);
    this.assignPage(req.hpa, "PT_REG", pages, req.gpa);
    this.sept.setLeaf(req.gpa, { state: "PENDING", level: req.level, hpa: req.hpa, blockEpoch: 0 });
    this.septEffect(req.gpa, req.level, "FREE", "PENDING", { hpa: req.hpa });
    return ok();
  }

  block(req: Request<"TDH.MEM.RANGE.BLOCK">, op: OpState): U64 {
    const found = this.legalEntry("TDH.MEM.RANGE.BLOCK", req.gpa, req.level, op);
    if ("status" in found) return found.status;
    const entry = (found.leaf ?? found.table)!;
    entry.state = found.rule.to as never;
    entry.blockEpoch = this.epoch;
    this.septEffect(req.gpa, req.level, found.state, found.rule.to as SeptState);
    return ok();
  }

  unblock(req: Request<"TDH.MEM.RANGE.UNBLOCK">, op: OpState): U64 {
    const found = this.legalEntry("TDH.MEM.RANGE.UNBLOCK", req.gpa, req.level, op);
    if ("status" in found) return found.status;
    const entry = (found.leaf ?? found.table)!;
    entry.state = found.rule.to as never;
    this.septEffect(req.gpa, req.level, found.state, found.rule.to as SeptState);
    return ok();
  }

  /** tdh_mem_track.c: refused while a vCPU still runs in the previous epoch (refcount[1 - (epoch & 1)]). */
  track(): U64 {
    for (const entered of this.inGuest.values())
      if (entered === this.epoch - 1) return tdxStatus("TDX_PREVIOUS_TLB_EPOCH_BUSY");
    this.epoch++;
    return ok();
  }

  remove(req: Request<"TDH.MEM.PAGE.REMOVE">, op: OpState): Response<"TDH.MEM.PAGE.REMOVE"> {
    const type = "TDH.MEM.PAGE.REMOVE" as const;
    const found = this.legalEntry(type, req.gpa, req.level, op);
    if ("status" in found) return { type, status: found.status };
    const leaf = found.leaf!;
    this.sept.clearLeaf(req.gpa, req.level);
    this.pamt.release(pfnOf(leaf.hpa));
    const pages = levelSize(req.level) / 0x1000;
    this.io.effect({
      e: "owner",
      by: "fw",
      hpa: leaf.hpa,
      pages,
      from: "TD",
      to: "host",
      pageType: "PT_REG",
    });
    this.septEffect(req.gpa, req.level, leaf.state, "FREE", { hpa: leaf.hpa });
    return { type, status: ok(), hpa: leaf.hpa };
  }

  demote(req: Request<"TDH.MEM.PAGE.DEMOTE">, op: OpState): U64 {
    const found = this.legalEntry("TDH.MEM.PAGE.DEMOTE", req.gpa, req.level, op);
    if ("status" in found) return found.status;
    const leaf = found.leaf!;
    if (!this.pamt.isFree(pfnOf(req.hpa), 1)) return err("TDX_PAGE_METADATA_INCORRECT", TDX_OPERAND_ID.R8);
    const childState = leaf.state === "BLOCKED" || leaf.state === "MAPPED" ? "MAPPED" : "PENDING";
    this.assignPage(req.hpa, "PT_EPT", 1);
    this.pamt.split(pfnOf(leaf.hpa), req.gpa);
    this.sept.entries2M.set(idx2M(req.gpa), {
      state: "NL_MAPPED",
      spt: req.hpa,
      blockEpoch: 0,
      childCount: 0,
    });
    for (let i = 0; i < 512; i++) {
      const child: Leaf = { state: childState, level: 0, hpa: leaf.hpa + i * 0x1000, blockEpoch: 0 };
      this.sept.setLeaf(req.gpa + i * 0x1000, child);
    }
    this.septEffect(req.gpa, 1, leaf.state, "NL_MAPPED", { spt: req.hpa, children: childState });
    return ok();
  }

  promote(req: Request<"TDH.MEM.PAGE.PROMOTE">, op: OpState): Response<"TDH.MEM.PAGE.PROMOTE"> {
    const type = "TDH.MEM.PAGE.PROMOTE" as const;
    const found = this.legalEntry(type, req.gpa, req.level, op);
    if ("status" in found) return { type, status: found.status };
    const table = found.table as NonLeaf;
    const first = this.sept.uniformChildren(req.gpa);
    if (!first || (first.state !== "MAPPED" && first.state !== "PENDING")) {
      return { type, status: err("TDX_EPT_INVALID_PROMOTE_CONDITIONS") };
    }
    this.pamt.merge(pfnOf(first.hpa), req.gpa);
    this.pamt.release(pfnOf(table.spt));
    this.io.effect({
      e: "owner",
      by: "fw",
      hpa: table.spt,
      pages: 1,
      from: "TD",
      to: "host",
      pageType: "PT_EPT",
    });
    this.sept.setLeaf(req.gpa, { state: first.state, level: 1, hpa: first.hpa, blockEpoch: 0 });
    this.septEffect(req.gpa, 1, "NL_BLOCKED", first.state, { hpa: first.hpa });
    return { type, status: ok(), hpa: table.spt };
  }

  get measurement(): string {
    return this.mrtd;
  }

  // ---- Guest side ----

  /** TDG.MEM.PAGE.ACCEPT: a status, or undefined when the TD must exit (EPT violation, accept flavour). */
  accept(req: Request<"TDG.MEM.PAGE.ACCEPT">): U64 | undefined {
    if (req.level > 1 || req.gpa % levelSize(req.level) !== 0 || req.gpa >= this.sharedBit) {
      return err("TDX_OPERAND_INVALID");
    }
    const walk = this.sept.walk(req.gpa, req.level);
    if (walk.kind === "walk-failed") return undefined;
    if (walk.kind === "larger-leaf") {
      return walk.leaf.state === "MAPPED"
        ? tdxStatus("TDX_PAGE_ALREADY_ACCEPTED", BigInt(walk.leaf.level))
        : undefined;
    }
    const rule = septRule("TDG.MEM.PAGE.ACCEPT", walk.state, "RUNNABLE");
    if ("exit" in rule) return undefined;
    if ("status" in rule) return tdxStatus(rule.status, BigInt(req.level));
    const leaf = walk.leaf!;
    const pages = levelSize(req.level) / 0x1000;
    const first = pfnOf(leaf.hpa);
    if (this.mutant.acceptWithoutZeroing) {
      leaf.state = "MAPPED";
      this.septEffect(req.gpa, req.level, "PENDING", "MAPPED", { hpa: leaf.hpa });
      return ok();
    }
    for (let p = first; p < first + pages; p++)
      this.frames.set(p, { content: { k: "zero" }, keyId: this.hkid, poisoned: false });
    this.io.effect({
      e: "zero",
      by: "fw",
      hpa: leaf.hpa,
      gpa: req.gpa,
      pages,
      why: "TDG.MEM.PAGE.ACCEPT",
      keyId: this.hkid,
    });
    leaf.state = "MAPPED";
    this.septEffect(req.gpa, req.level, "PENDING", "MAPPED", { hpa: leaf.hpa });
    return ok();
  }

  // ---- helpers ----

  /** Tracked: blocked in an epoch that has ended, and no vCPU still runs in it. */
  isTracked(blockEpoch: number): boolean {
    if (blockEpoch >= this.epoch) return false;
    for (const entryEpoch of this.inGuest.values()) if (entryEpoch <= blockEpoch) return false;
    return true;
  }

  private checkPage(call: SeptCall, gpa: number, level: Level): U64 | undefined {
    if (!SEPT_TABLE[call].levels.includes(level) || gpa % levelSize(level) !== 0 || gpa >= this.sharedBit) {
      return err("TDX_OPERAND_INVALID");
    }
    return undefined;
  }

  /**
   * The entry a call addresses (walked to `level`) and the legality table's rule for its state,
   * or the status that refuses the call: a bad operand, a failed walk (a missing or blocked
   * table, or a larger leaf in the way), an illegal state, or a block whose TLB epoch has not been
   * tracked yet.
   */
  private legalEntry(call: SeptCall, gpa: number, level: Level, op: OpState): { status: U64 } | LegalEntry {
    const bad = this.checkPage(call, gpa, level);
    if (bad) return { status: bad };
    const walk = this.sept.walk(gpa, level);
    if (walk.kind !== "entry") return { status: err("TDX_EPT_WALK_FAILED") };
    const rule = septRule(call, walk.state, op);
    if (!("to" in rule)) return { status: this.refuse(rule) };
    const entry = walk.leaf ?? walk.table;
    if (rule.tracked && op === "RUNNABLE" && entry && !this.isTracked(entry.blockEpoch)) {
      // tdh_mem_range_unblock.c names the S-EPT tree as the operand; REMOVE, DEMOTE, PROMOTE name RCX.
      const operand = call === "TDH.MEM.RANGE.UNBLOCK" ? TDX_OPERAND_ID.SEPT : TDX_OPERAND_ID.RCX;
      return { status: err("TDX_TLB_TRACKING_NOT_DONE", operand) };
    }
    return { state: walk.state, leaf: walk.leaf, table: walk.table, rule };
  }

  private refuse(rule: { status: TdxStatusName } | { exit: "EPT_VIOLATION" }): U64 {
    return "status" in rule ? err(rule.status) : err("TDX_EPT_ENTRY_STATE_INCORRECT");
  }

  private assignPage(hpa: number, type: PageType, pages: number, gpa?: number): void {
    this.pamt.assign(pfnOf(hpa), gpa === undefined ? { type, pages } : { type, pages, gpa });
    this.io.effect({ e: "owner", by: "fw", hpa, pages, from: "host", to: "TD", pageType: type });
  }

  /** An S-EPT entry changed state; `extra` says what it maps (hpa), points to (spt) or split into. */
  private septEffect(
    gpa: number,
    level: Level,
    from: SeptState,
    to: SeptState,
    extra: { hpa?: number; spt?: number; children?: SeptState } = {},
  ): void {
    this.io.effect({ e: "sept", by: "fw", gpa, level, from, to, ...extra });
  }

  private extendHash(op: string, gpa: number, data: string): string {
    return createHash("sha384").update(`${this.mrtd}|${op}|${gpa}|${data}`).digest("hex");
  }
}
