// KVM's TDX backend (arch/x86/kvm/vmx/tdx.c, virt/kvm/guest_memfd.c, kvm_main.c), as an honest
// host kernel runs it: TD build, the vCPU run loop and its in-kernel exit handling, private
// faults (SEPT.ADD + AUG, DEMOTE), the zap path (BLOCK -> TRACK -> kick -> REMOVE -> WBINVD ->
// MOVDIR64B), memory attributes with the invalidation sequence, guest_memfd and teardown.
import {
  type KvmExit,
  type Level,
  PAGE_2M,
  PAGE_4K,
  type RequestEnvelope,
  type Response,
  type VmcallCompletion,
} from "../../../protocol/index.ts";
import { tdvmcallStatus, tdxStatusIs, tdxStatusName } from "../../../protocol/status.ts";
import { call, type Flow, lock, type TaskRunner } from "../../../src/kit/flows.ts";
import type { PartyIO } from "../../../src/kit/outbox.ts";
import { RangeSet } from "../../../src/kit/range-set.ts";
import { GuestMemfd } from "../guest-memfd.ts";
import { HostMemory } from "../host-memory.ts";

const KVM = "host/kvm" as const;
const EINVAL = -22;
const EEXIST = -17;
const EBADF = -9;
const EIO = -5;
const EINTR = -4;
const EOPNOTSUPP = -95;
const KVM_MEMORY_ATTRIBUTE_PRIVATE = 1 << 3;
const FALLOC_FL_KEEP_SIZE = 0x1;
const FALLOC_FL_PUNCH_HOLE = 0x2;
/** How often KVM retries a SEAMCALL that reports TDX_OPERAND_BUSY before giving up. */
const BUSY_RETRIES = 16;

export interface KvmOptions {
  /** Largest private mapping KVM creates: 0 = 4K (upstream today), 1 = 2M (huge page RFC). */
  privateLevel: Level;
  hkid: number;
}

type FaultResult = { kind: "resume" } | { kind: "user"; exit: KvmExit } | { kind: "kill"; reason: string };

interface MapGpaProgress {
  next: number;
  end: number;
  toShared: boolean;
}

const align = (value: number, size: number) => value - (value % size);
const idx2M = (gpa: number) => Math.floor(gpa / PAGE_2M);
const idx1G = (gpa: number) => Math.floor(gpa / 0x40000000);

export class KvmTdx {
  readonly memory = new HostMemory();
  gmem: GuestMemfd | undefined;
  private slot: { gpa: number; size: number; offset: number } | undefined;
  readonly privateAttr = new RangeSet();
  /** KVM's mirror of the S-EPT leaves it created: GPA -> HPA. */
  readonly mirror4K = new Map<number, number>();
  readonly mirror2M = new Map<number, number>();
  private readonly tables1G = new Map<number, number>();
  private readonly tables2M = new Map<number, number>();
  /** The VMM's shared (anonymous) memory backing each shared GPA page, and its shared-EPT mapping. */
  readonly sharedBacking = new Map<number, number>();
  private readonly invalidating = new RangeSet();
  private invalidateSeq = 0;
  private readonly pendingEvent = new Set<number>();
  private readonly mapGpa = new Map<number, MapGpaProgress>();
  private tdr = 0;
  private readonly tdvprs: number[] = [];
  private vcpus = 0;
  sharedBit = 2 ** 47;
  dying = false;
  dead: string | undefined;

  constructor(
    private readonly io: PartyIO,
    private readonly tasks: TaskRunner,
    private readonly options: KvmOptions,
  ) {}

  /** A request from the VMM: each ioctl runs as its own kernel flow and replies when done. */
  handle(env: RequestEnvelope): void {
    const flow = this.ioctl(env);
    this.tasks.spawn(KVM, flow);
  }

  private *ioctl(env: RequestEnvelope): Flow<void> {
    const msg = env.msg;
    switch (msg.type) {
      case "KVM_TDX_INIT_VM":
        return this.io.reply(env, {
          type: msg.type,
          ret: yield* this.initVm(msg.septVeDisable, msg.vcpus, msg.gpaWidth),
        });
      case "KVM_CREATE_GUEST_MEMFD":
        return this.io.reply(env, this.createGuestMemfd(msg.size, msg.flags));
      case "KVM_SET_USER_MEMORY_REGION2":
        return this.io.reply(env, { type: msg.type, ret: this.setMemoryRegion(msg) });
      case "KVM_SET_MEMORY_ATTRIBUTES":
        return this.io.reply(env, { type: msg.type, ret: yield* this.setMemoryAttributes(msg) });
      case "fallocate":
        return this.io.reply(env, {
          type: msg.type,
          ret: yield* this.fallocate(msg.fd, msg.mode, msg.offset, msg.len),
        });
      case "KVM_TDX_INIT_MEM_REGION":
        return this.io.reply(env, {
          type: msg.type,
          ret: yield* this.initMemRegion(msg.gpa, msg.source, msg.measure),
        });
      case "KVM_TDX_FINALIZE_VM": {
        const fin = yield* call("fw", { type: "TDH.MR.FINALIZE" });
        if (BigInt(fin.status) !== 0n) return this.io.reply(env, { type: msg.type, ret: EIO });
        const rd = yield* call("fw", { type: "TDH.MNG.RD", field: "MRTD" });
        return this.io.reply(env, { type: msg.type, ret: 0, mrtd: rd.value });
      }
      case "KVM_RUN":
        return this.io.reply(env, yield* this.run(msg.vcpu, msg.hypercallRet));
      case "KVM_DESTROY_VM":
        yield* this.destroy();
        return this.io.reply(env, { type: msg.type, ret: 0 });
      default:
        throw new Error(`bug: host/kvm got ${msg.type}`);
    }
  }

  // ---- VM creation and build ----

  private *initVm(septVeDisable: boolean, vcpus: number, gpaWidth: 48 | 52): Flow<number> {
    this.sharedBit = 2 ** (gpaWidth - 1);
    this.tdr = this.memory.alloc4K();
    const steps = [
      yield* call("fw", { type: "TDH.MNG.CREATE", tdr: this.tdr, hkid: this.options.hkid }),
      yield* call("fw", { type: "TDH.MNG.KEY.CONFIG" }),
      yield* call("fw", { type: "TDH.MNG.INIT", septVeDisable, gpaWidth }),
    ];
    if (steps.some((r) => BigInt(r.status) !== 0n)) return EIO;
    for (let vcpu = 0; vcpu < vcpus; vcpu++) {
      const tdvpr = this.memory.alloc4K();
      const r = yield* call("fw", { type: "TDH.VP.CREATE", vcpu, tdvpr });
      if (BigInt(r.status) !== 0n) return EIO;
      this.tdvprs.push(tdvpr);
    }
    this.vcpus = vcpus;
    return 0;
  }

  private createGuestMemfd(size: number, flags: number): Response<"KVM_CREATE_GUEST_MEMFD"> {
    if (size === 0 || size % PAGE_4K !== 0 || flags !== 0)
      return { type: "KVM_CREATE_GUEST_MEMFD", ret: EINVAL };
    if (this.gmem) return { type: "KVM_CREATE_GUEST_MEMFD", ret: EEXIST };
    this.gmem = new GuestMemfd(10, size);
    return { type: "KVM_CREATE_GUEST_MEMFD", ret: 0, fd: this.gmem.fd };
  }

  private setMemoryRegion(msg: {
    guest_phys_addr: number;
    memory_size: number;
    guest_memfd: number;
    guest_memfd_offset: number;
  }): number {
    if (!this.gmem || msg.guest_memfd !== this.gmem.fd) return EBADF;
    if (this.slot) return EEXIST;
    if (msg.memory_size === 0 || msg.memory_size % PAGE_4K !== 0 || msg.guest_phys_addr % PAGE_4K !== 0)
      return EINVAL;
    if (msg.guest_memfd_offset + msg.memory_size > this.gmem.size) return EINVAL;
    this.slot = { gpa: msg.guest_phys_addr, size: msg.memory_size, offset: msg.guest_memfd_offset };
    return 0;
  }

  private *initMemRegion(gpa: number, source: { k: string }[], measure: boolean): Flow<number> {
    for (let i = 0; i < source.length; i++) {
      const page = gpa + i * PAGE_4K;
      if (!this.privateAttr.has(page)) return EINVAL;
      const src = this.memory.alloc4K();
      yield* call("hw", { type: "host.access", op: "write", hpa: src, content: source[i] as never });
      yield* this.linkTables(page, 0);
      const hpa = yield* this.gmemPage(page, 0, false);
      const r = yield* call("fw", { type: "TDH.MEM.PAGE.ADD", gpa: page, hpa, source: src });
      this.memory.free(src, 1);
      if (BigInt(r.status) !== 0n) return EIO;
      this.mirror4K.set(page, hpa);
      if (measure) {
        for (let chunk = 0; chunk < PAGE_4K; chunk += 256)
          yield* call("fw", { type: "TDH.MR.EXTEND", gpa: page + chunk });
      }
    }
    return 0;
  }

  // ---- The vCPU run loop ----

  private *run(vcpu: number, hypercallRet: number | undefined): Flow<Response<"KVM_RUN">> {
    let vmcall: VmcallCompletion | undefined;
    const progress = this.mapGpa.get(vcpu);
    if (progress) {
      const next = this.continueMapGpa(vcpu, progress, hypercallRet ?? 0);
      if ("exit" in next) return { type: "KVM_RUN", ret: 0, exit: next.exit };
      vmcall = next.vmcall;
    }
    for (;;) {
      if (this.dead) return { type: "KVM_RUN", ret: EIO };
      if (this.dying) return { type: "KVM_RUN", ret: EINTR };
      this.pendingEvent.delete(vcpu);
      const entered = yield* call(
        "fw",
        vmcall ? { type: "TDH.VP.ENTER", vcpu, vmcall } : { type: "TDH.VP.ENTER", vcpu },
      );
      vmcall = undefined;
      const exit = entered.exit;
      if (!exit) return { type: "KVM_RUN", ret: EIO };
      switch (exit.reason) {
        case "EXTERNAL_INTERRUPT":
          continue;
        case "HLT":
          return { type: "KVM_RUN", ret: 0, exit: { exit_reason: "KVM_EXIT_HLT" } };
        case "IO_INSTRUCTION":
          return {
            type: "KVM_RUN",
            ret: 0,
            exit: { exit_reason: "KVM_EXIT_IO", port: exit.port, value: exit.value },
          };
        case "TDVMCALL<ReportFatalError>":
          return {
            type: "KVM_RUN",
            ret: 0,
            exit: {
              exit_reason: "KVM_EXIT_SYSTEM_EVENT",
              event: "KVM_SYSTEM_EVENT_TDX_FATAL",
              detail: exit.detail,
            },
          };
        case "TD_FATAL":
          this.kill(`TD is dead: ${exit.detail}`);
          return { type: "KVM_RUN", ret: EIO };
        case "TDVMCALL<MapGPA>": {
          const started = this.startMapGpa(vcpu, exit.gpa, exit.size);
          if ("exit" in started) return { type: "KVM_RUN", ret: 0, exit: started.exit };
          vmcall = started.vmcall;
          continue;
        }
        case "EPT_VIOLATION": {
          const result = yield* this.handleEptViolation(exit);
          if (result.kind === "user") return { type: "KVM_RUN", ret: 0, exit: result.exit };
          if (result.kind === "kill") {
            this.kill(result.reason);
            return { type: "KVM_RUN", ret: EIO };
          }
          continue;
        }
      }
    }
  }

  /** tdx_map_gpa(): validate, then hand the VMM one 2M-bounded chunk at a time. */
  private startMapGpa(
    vcpu: number,
    gpa: number,
    size: number,
  ): { exit: KvmExit } | { vmcall: VmcallCompletion } {
    const toShared = gpa >= this.sharedBit;
    const base = toShared ? gpa - this.sharedBit : gpa;
    if (
      size === 0 ||
      gpa % PAGE_4K !== 0 ||
      size % PAGE_4K !== 0 ||
      !this.slot ||
      base + size > this.slot.gpa + this.slot.size
    ) {
      return { vmcall: { status: tdvmcallStatus("TDVMCALL_STATUS_INVALID_OPERAND"), retryGpa: gpa } };
    }
    const progress = { next: base, end: base + size, toShared };
    this.mapGpa.set(vcpu, progress);
    return { exit: this.mapGpaChunk(progress) };
  }

  private continueMapGpa(
    vcpu: number,
    progress: MapGpaProgress,
    ret: number,
  ): { exit: KvmExit } | { vmcall: VmcallCompletion } {
    const alias = progress.toShared ? this.sharedBit : 0;
    if (ret !== 0) {
      this.mapGpa.delete(vcpu);
      return {
        vmcall: {
          status: tdvmcallStatus("TDVMCALL_STATUS_INVALID_OPERAND"),
          retryGpa: progress.next + alias,
        },
      };
    }
    progress.next = Math.min(progress.end, align(progress.next, PAGE_2M) + PAGE_2M);
    if (progress.next >= progress.end) {
      this.mapGpa.delete(vcpu);
      return { vmcall: { status: tdvmcallStatus("TDVMCALL_STATUS_SUCCESS") } };
    }
    // A pending event (e.g. the IPI of a TLB flush) makes KVM return RETRY so the guest can take it.
    if (this.pendingEvent.has(vcpu)) {
      this.mapGpa.delete(vcpu);
      return { vmcall: { status: tdvmcallStatus("TDVMCALL_STATUS_RETRY"), retryGpa: progress.next + alias } };
    }
    return { exit: this.mapGpaChunk(progress) };
  }

  private mapGpaChunk(progress: MapGpaProgress): KvmExit {
    const chunkEnd = Math.min(progress.end, align(progress.next, PAGE_2M) + PAGE_2M);
    return {
      exit_reason: "KVM_EXIT_HYPERCALL",
      nr: 12,
      gpa: progress.next,
      npages: (chunkEnd - progress.next) / PAGE_4K,
      encrypted: !progress.toShared,
    };
  }

  // ---- Faults ----

  private *handleEptViolation(exit: {
    gpa: number;
    private: boolean;
    acceptLevel?: Level | undefined;
    septState?: string | undefined;
  }): Flow<FaultResult> {
    if (!exit.private) return yield* this.sharedFault(exit.gpa - this.sharedBit);
    const page = align(exit.gpa, PAGE_4K);
    if (!this.privateAttr.has(page)) {
      return {
        kind: "user",
        exit: { exit_reason: "KVM_EXIT_MEMORY_FAULT", gpa: page, size: PAGE_4K, private: true },
      };
    }
    if (exit.septState === "PENDING" && exit.acceptLevel === undefined) {
      return { kind: "kill", reason: `guest access before accepting GPA 0x${page.toString(16)} (PENDING)` };
    }
    if (this.invalidating.has(page)) return this.retryFault(page, "invalidation in progress");
    const base2M = align(page, PAGE_2M);
    if (this.mirror2M.has(base2M) || this.mirror4K.has(page))
      return yield* this.alreadyMapped(base2M, exit.acceptLevel);
    // kvm_faultin_pfn(): get the backing page outside the mmu lock, remembering the sequence...
    const seq = this.invalidateSeq;
    const level = this.mappingLevel(page);
    const target = level === 1 ? base2M : page;
    const hpa = yield* this.gmemPage(target, level, true);
    const key = `mmu:${idx2M(page)}`;
    yield* lock(key);
    try {
      // ...then, under the lock, drop the fault if an invalidation ran meanwhile (is_page_fault_stale).
      if (seq !== this.invalidateSeq || !this.privateAttr.has(page)) {
        return this.retryFault(page, "mmu_invalidate_retry: an invalidation ran while faulting");
      }
      if (this.mirror2M.has(base2M) || this.mirror4K.has(page))
        return yield* this.alreadyMapped(base2M, exit.acceptLevel);
      if (level === 1 && this.tables2M.has(idx2M(page)))
        return this.retryFault(page, "2M range split meanwhile");
      yield* this.mapPrivate(target, level, hpa);
    } finally {
      this.tasks.unlock(key);
    }
    return { kind: "resume" };
  }

  /** Another vCPU mapped it first; a 4K accept on a 2M PENDING leaf needs the leaf demoted. */
  private *alreadyMapped(base2M: number, acceptLevel: Level | undefined): Flow<FaultResult> {
    if (!this.mirror2M.has(base2M) || acceptLevel !== 0) return { kind: "resume" };
    const key = `mmu:${idx2M(base2M)}`;
    yield* lock(key);
    try {
      if (this.mirror2M.has(base2M)) yield* this.demote(base2M);
    } finally {
      this.tasks.unlock(key);
    }
    return { kind: "resume" };
  }

  /** RET_PF_RETRY: resume the vCPU without mapping; it faults again and re-evaluates. */
  private retryFault(gpa: number, why: string): FaultResult {
    this.io.effect({ e: "fault", by: KVM, kind: "RET_PF_RETRY", gpa, detail: why });
    return { kind: "resume" };
  }

  /** 2M when allowed and the whole 2M range is private and unmapped; else 4K. */
  private mappingLevel(page: number): Level {
    if (this.options.privateLevel === 0) return 0;
    const base = align(page, PAGE_2M);
    if (this.tables2M.has(idx2M(base)) || !this.privateAttr.covers(base, base + PAGE_2M)) return 0;
    if (!this.slot || base + PAGE_2M > this.slot.gpa + this.slot.size) return 0;
    const folio = this.gmem?.lookup(this.gmemOffset(base));
    return folio && folio[1].pages !== 512 ? 0 : 1;
  }

  private *sharedFault(gpa: number): Flow<FaultResult> {
    const page = align(gpa, PAGE_4K);
    if (this.privateAttr.has(page)) {
      return {
        kind: "user",
        exit: { exit_reason: "KVM_EXIT_MEMORY_FAULT", gpa: page, size: PAGE_4K, private: false },
      };
    }
    if (this.invalidating.has(page)) return { kind: "resume" };
    let hpa = this.sharedBacking.get(page);
    if (hpa === undefined) {
      hpa = this.memory.alloc4K();
      this.sharedBacking.set(page, hpa);
      // Anonymous memory is zero-filled by the host kernel on first touch.
      yield* call("hw", { type: "host.access", op: "clear", hpa, why: "anonymous page first touch" });
    }
    yield* call("hw", { type: "ept.map", gpa: page + this.sharedBit, hpa });
    return { kind: "resume" };
  }

  private *linkTables(gpa: number, level: Level): Flow<void> {
    if (!this.tables1G.has(idx1G(gpa))) {
      const spt = this.memory.alloc4K();
      const r = yield* call("fw", {
        type: "TDH.MEM.SEPT.ADD",
        gpa: align(gpa, 0x40000000),
        level: 2,
        hpa: spt,
      });
      if (BigInt(r.status) !== 0n) throw new Error(`TDH.MEM.SEPT.ADD(1G) failed: ${tdxStatusName(r.status)}`);
      this.tables1G.set(idx1G(gpa), spt);
    }
    if (level === 0 && !this.tables2M.has(idx2M(gpa))) {
      const spt = this.memory.alloc4K();
      const r = yield* call("fw", { type: "TDH.MEM.SEPT.ADD", gpa: align(gpa, PAGE_2M), level: 1, hpa: spt });
      if (BigInt(r.status) !== 0n) throw new Error(`TDH.MEM.SEPT.ADD(2M) failed: ${tdxStatusName(r.status)}`);
      this.tables2M.set(idx2M(gpa), spt);
    }
  }

  /** tdx_sept_set_private_spte(): link tables, get the guest_memfd page, TDH.MEM.PAGE.AUG. */
  private *mapPrivate(gpa: number, level: Level, hpa: number): Flow<void> {
    yield* this.linkTables(gpa, level);
    for (let attempt = 0; attempt < BUSY_RETRIES; attempt++) {
      const r = yield* call("fw", { type: "TDH.MEM.PAGE.AUG", gpa, level, hpa });
      if (BigInt(r.status) === 0n) {
        (level === 1 ? this.mirror2M : this.mirror4K).set(gpa, hpa);
        return;
      }
      if (!tdxStatusIs(r.status, "TDX_OPERAND_BUSY"))
        throw new Error(`TDH.MEM.PAGE.AUG failed: ${tdxStatusName(r.status)}`);
    }
  }

  /** kvm_gmem_get_pfn(): the folio for a GPA, allocated (and zeroed, if `prepare`) on first use. */
  private *gmemPage(gpa: number, level: Level, prepare: boolean): Flow<number> {
    const gmem = this.gmem!;
    const offset = this.gmemOffset(gpa);
    const found = gmem.lookup(offset);
    if (found) {
      const [at, folio] = found;
      if (prepare && !folio.prepared) yield* this.prepare(folio);
      return folio.hpa + (offset - at);
    }
    const pages = level === 1 ? 512 : 1;
    const hpa = level === 1 ? this.memory.alloc2M() : this.memory.alloc4K();
    const folio = { hpa, pages, prepared: false };
    gmem.insert(offset, folio);
    this.io.effect({ e: "gmem", by: KVM, gpa: align(gpa, pages * PAGE_4K), hpa, pages, op: "alloc" });
    if (prepare) yield* this.prepare(folio);
    return hpa;
  }

  private *prepare(folio: { hpa: number; pages: number; prepared: boolean }): Flow<void> {
    folio.prepared = true;
    const pages = folio.pages === 512 ? 512 : 1;
    yield* call("hw", {
      type: "host.access",
      op: "clear",
      hpa: folio.hpa,
      pages,
      why: "guest_memfd first use",
    });
  }

  private gmemOffset(gpa: number): number {
    return gpa - this.slot!.gpa + this.slot!.offset;
  }

  // ---- Zapping private memory ----

  /** TDH.MEM.TRACK, then kick every vCPU out of the guest so the old epoch drains. */
  private *track(): Flow<void> {
    yield* call("fw", { type: "TDH.MEM.TRACK" });
    for (let vcpu = 0; vcpu < this.vcpus; vcpu++) {
      const r = yield* call("hw", { type: "vcpu.kick", vcpu });
      if (r.wasRunning) this.pendingEvent.add(vcpu);
    }
  }

  /** tdx_sept_remove_private_spte(): BLOCK -> TRACK -> REMOVE -> WBINVD -> MOVDIR64B clear. */
  private *zapPrivate(gpa: number, level: Level): Flow<void> {
    const mirror = level === 1 ? this.mirror2M : this.mirror4K;
    const hpa = mirror.get(gpa);
    if (hpa === undefined) return;
    const blocked = yield* call("fw", { type: "TDH.MEM.RANGE.BLOCK", gpa, level });
    if (tdxStatusIs(blocked.status, "TDX_EPT_ENTRY_STATE_INCORRECT")) {
      throw new Error(`TDH.MEM.RANGE.BLOCK failed: ${tdxStatusName(blocked.status)}`);
    }
    yield* this.track();
    for (let attempt = 0; ; attempt++) {
      const r = yield* call("fw", { type: "TDH.MEM.PAGE.REMOVE", gpa, level });
      if (BigInt(r.status) === 0n) break;
      const retriable =
        tdxStatusIs(r.status, "TDX_OPERAND_BUSY") || tdxStatusIs(r.status, "TDX_TLB_TRACKING_NOT_DONE");
      if (!retriable || attempt >= BUSY_RETRIES)
        throw new Error(`TDH.MEM.PAGE.REMOVE failed: ${tdxStatusName(r.status)}`);
      yield* this.track();
    }
    mirror.delete(gpa);
    const pages = level === 1 ? 512 : 1;
    for (let i = 0; i < pages; i++)
      yield* call("fw", { type: "TDH.PHYMEM.PAGE.WBINVD", hpa: hpa + i * PAGE_4K });
    // Parts with the partial-write erratum need full-line writes to clear poison and the TD bit.
    yield* call("hw", { type: "host.access", op: "movdir64b", hpa, pages, why: "tdx_clear_page" });
  }

  /** Split a 2M private mapping: BLOCK -> TRACK -> DEMOTE into a new S-EPT page. */
  private *demote(base: number): Flow<void> {
    const hpa = this.mirror2M.get(base)!;
    yield* call("fw", { type: "TDH.MEM.RANGE.BLOCK", gpa: base, level: 1 });
    yield* this.track();
    const spt = this.memory.alloc4K();
    for (let attempt = 0; ; attempt++) {
      const r = yield* call("fw", { type: "TDH.MEM.PAGE.DEMOTE", gpa: base, level: 1, hpa: spt });
      if (BigInt(r.status) === 0n) break;
      if (!tdxStatusIs(r.status, "TDX_TLB_TRACKING_NOT_DONE") || attempt >= BUSY_RETRIES) {
        throw new Error(`TDH.MEM.PAGE.DEMOTE failed: ${tdxStatusName(r.status)}`);
      }
      yield* this.track();
    }
    this.mirror2M.delete(base);
    this.tables2M.set(idx2M(base), spt);
    for (let i = 0; i < 512; i++) this.mirror4K.set(base + i * PAGE_4K, hpa + i * PAGE_4K);
  }

  /** Zap every private mapping in [start, end): whole 2M leaves, or demote then zap 4K pages. */
  private *zapRange(start: number, end: number): Flow<void> {
    for (const base of this.sorted(this.mirror2M.keys(), align(start, PAGE_2M), end)) {
      const key = `mmu:${idx2M(base)}`;
      yield* lock(key);
      try {
        if (!this.mirror2M.has(base)) continue;
        if (base >= start && base + PAGE_2M <= end) yield* this.zapPrivate(base, 1);
        else yield* this.demote(base);
      } finally {
        this.tasks.unlock(key);
      }
    }
    for (const page of this.sorted(this.mirror4K.keys(), start, end)) {
      const key = `mmu:${idx2M(page)}`;
      yield* lock(key);
      try {
        yield* this.zapPrivate(page, 0);
      } finally {
        this.tasks.unlock(key);
      }
    }
  }

  /** Keys of a GPA-keyed map within [start, end), ascending. */
  private sorted(keys: Iterable<number>, start: number, end: number): number[] {
    const out: number[] = [];
    for (const k of keys) if (k >= start && k < end) out.push(k);
    return out.sort((a, b) => a - b);
  }

  // ---- Memory attributes and guest_memfd ----

  private *setMemoryAttributes(msg: {
    address: number;
    size: number;
    attributes: number;
    flags: number;
  }): Flow<number> {
    const { address, size, attributes, flags } = msg;
    if (flags !== 0 || size === 0 || address % PAGE_4K !== 0 || size % PAGE_4K !== 0) return EINVAL;
    if (attributes !== 0 && attributes !== KVM_MEMORY_ATTRIBUTE_PRIVATE) return EINVAL;
    const toPrivate = attributes === KVM_MEMORY_ATTRIBUTE_PRIVATE;
    const end = address + size;
    if (toPrivate ? this.privateAttr.covers(address, end) : !this.privateAttr.intersects(address, end))
      return 0;
    // mmu_invalidate_begin(): faults in the range retry until the end.
    this.invalidating.add(address, end);
    this.invalidateSeq++;
    if (toPrivate) {
      this.privateAttr.add(address, end);
      yield* call("hw", { type: "ept.zap", gpa: address + this.sharedBit, size });
    } else {
      this.privateAttr.remove(address, end);
      yield* this.zapRange(address, end);
    }
    this.invalidating.remove(address, end);
    this.io.effect({ e: "attr", by: KVM, gpa: address, size, private: toPrivate });
    return 0;
  }

  private *fallocate(fd: number, mode: number, offset: number, len: number): Flow<number> {
    const gmem = this.gmem;
    if (!gmem || fd !== gmem.fd) return EBADF;
    if (offset % PAGE_4K !== 0 || len % PAGE_4K !== 0 || len === 0) return EINVAL;
    if (mode === FALLOC_FL_KEEP_SIZE) {
      if (offset + len > gmem.size) return EINVAL;
      for (let at = offset; at < offset + len; at += PAGE_4K) {
        if (!gmem.lookup(at)) gmem.insert(at, { hpa: this.memory.alloc4K(), pages: 1, prepared: false });
      }
      return 0;
    }
    if (mode !== (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)) return EOPNOTSUPP;
    const gpa = offset - this.slot!.offset + this.slot!.gpa;
    this.invalidating.add(gpa, gpa + len);
    this.invalidateSeq++;
    yield* this.zapRange(gpa, gpa + len);
    for (const [at, folio] of gmem.within(offset, len)) {
      if (folio.pages === 512 && (at < offset || at + PAGE_2M > offset + len)) continue; // partial 2M folio kept
      gmem.remove(at);
      this.memory.free(folio.hpa, folio.pages);
      const folioGpa = at - this.slot!.offset + this.slot!.gpa;
      this.io.effect({ e: "gmem", by: KVM, gpa: folioGpa, hpa: folio.hpa, pages: folio.pages, op: "free" });
    }
    this.invalidating.remove(gpa, gpa + len);
    return 0;
  }

  /** The frame backing a private GPA, if KVM mapped one (4K leaf or within a 2M leaf). */
  privateFrame(gpa: number): number | undefined {
    const small = this.mirror4K.get(gpa);
    if (small !== undefined) return small;
    const big = this.mirror2M.get(align(gpa, PAGE_2M));
    return big === undefined ? undefined : big + (gpa % PAGE_2M);
  }

  /** The VMM discarding shared memory it no longer needs (ram_block_discard_range): freed, not zeroed. */
  discardShared(gpa: number, size: number): void {
    const pages = size / PAGE_4K;
    const visit = (page: number) => {
      const hpa = this.sharedBacking.get(page);
      if (hpa === undefined) return;
      this.sharedBacking.delete(page);
      this.memory.free(hpa, 1);
    };
    if (pages <= this.sharedBacking.size) for (let p = gpa; p < gpa + size; p += PAGE_4K) visit(p);
    else for (const page of [...this.sharedBacking.keys()]) if (page >= gpa && page < gpa + size) visit(page);
  }

  // ---- Death and teardown ----

  private kill(reason: string): void {
    if (this.dead) return;
    this.dead = reason;
    this.io.effect({ e: "lifecycle", by: KVM, state: "vm-killed", detail: reason });
  }

  /** kvm_destroy_vm() on a TD, in the documented order (docs/domain/tdx.md, Teardown). */
  private *destroy(): Flow<void> {
    this.dying = true;
    for (let vcpu = 0; vcpu < this.vcpus; vcpu++) yield* call("hw", { type: "vcpu.kick", vcpu });
    // Zap private pages while the HKID is still assigned: block all, one TRACK, then remove each.
    yield* this.zapAllForTeardown();
    for (let vcpu = 0; vcpu < this.vcpus; vcpu++) yield* call("fw", { type: "TDH.VP.FLUSH", vcpu });
    yield* call("fw", { type: "TDH.MNG.VPFLUSHDONE" });
    yield* call("fw", { type: "TDH.PHYMEM.CACHE.WB" });
    yield* call("fw", { type: "TDH.MNG.KEY.FREEID" });
    const controlPages = [...this.tables2M.values(), ...this.tables1G.values(), ...this.tdvprs, this.tdr];
    for (const hpa of controlPages) yield* this.reclaim(hpa);
    this.tables2M.clear();
    this.tables1G.clear();
    for (const [, folio] of this.gmem?.all() ?? []) this.memory.free(folio.hpa, folio.pages);
    this.io.effect({ e: "lifecycle", by: KVM, state: "torn-down" });
  }

  private *zapAllForTeardown(): Flow<void> {
    const leaves: [number, Level][] = [
      ...[...this.mirror2M.keys()].map((g): [number, Level] => [g, 1]),
      ...[...this.mirror4K.keys()].map((g): [number, Level] => [g, 0]),
    ].sort((a, b) => a[0] - b[0]);
    for (const [gpa, level] of leaves) yield* call("fw", { type: "TDH.MEM.RANGE.BLOCK", gpa, level });
    if (leaves.length > 0) yield* this.track();
    for (const [gpa, level] of leaves) {
      const mirror = level === 1 ? this.mirror2M : this.mirror4K;
      const hpa = mirror.get(gpa)!;
      const r = yield* call("fw", { type: "TDH.MEM.PAGE.REMOVE", gpa, level });
      if (BigInt(r.status) !== 0n) {
        // A page the module will not give back is leaked on purpose, never reused.
        this.io.effect({ e: "fault", by: KVM, kind: "leaked", gpa, hpa, detail: tdxStatusName(r.status) });
        continue;
      }
      mirror.delete(gpa);
      const pages = level === 1 ? 512 : 1;
      for (let i = 0; i < pages; i++)
        yield* call("fw", { type: "TDH.PHYMEM.PAGE.WBINVD", hpa: hpa + i * PAGE_4K });
      yield* call("hw", { type: "host.access", op: "movdir64b", hpa, pages, why: "tdx_clear_page" });
    }
  }

  /** tdx_reclaim_page(): RECLAIM, WBINVD, clear, free; a refused page is leaked, never reused. */
  private *reclaim(hpa: number): Flow<void> {
    const r = yield* call("fw", { type: "TDH.PHYMEM.PAGE.RECLAIM", hpa });
    if (BigInt(r.status) !== 0n) {
      this.io.effect({ e: "fault", by: KVM, kind: "leaked", hpa, detail: tdxStatusName(r.status) });
      return;
    }
    yield* call("fw", { type: "TDH.PHYMEM.PAGE.WBINVD", hpa });
    yield* call("hw", { type: "host.access", op: "movdir64b", hpa, why: "tdx_reclaim_page" });
    this.memory.free(hpa, 1);
  }
}
