// pKVM EL2 memory protection (actors/trusted/pkvm/mem-protect.ts) against three references:
//  1. pkvm_ownership_selftest() from mem_protect.c, row by row (upstream ~v6.15/6.16 "U616", plus the
//     Android common kernel's extra rows "[ACK]", arch/arm64/kvm/hyp/nvhe/mem_protect.c). Every call is
//     checked exactly like the kernel's assert_transition_res(): the return value AND the whole page
//     state afterwards (host, hyp, guest IPA gfn and gfn+1), so a refused call must change nothing.
//  2. Every host-initiated row of TRANSITIONS (actors/trusted/pkvm/page-state.ts) from every reachable start
//     state of the page: the expected outcome is computed from the row's `from`/`to`, so the test
//     covers the data, plus the documented exceptions (unmapped IPA, pins, VM kind, share count).
//  3. Teardown and forced reclaim (__pkvm_start_teardown_vm, __pkvm_reclaim_dying_guest_page,
//     __pkvm_force_reclaim_guest_page in arch/arm64/kvm/hyp/nvhe/pkvm.c and mem_protect.c, android16-6.12).

import { beforeAll, describe, expect, it } from "vitest";
import { type HypVm, PkvmMemProtect } from "../../../actors/trusted/pkvm/mem-protect.ts";
import { type PkvmCall, TRANSITIONS } from "../../../actors/trusted/pkvm/page-state.ts";
import type { Content, PageState } from "../../../protocol/index.ts";
import { type PkvmProfile, PROFILES } from "../../../protocol/profiles.ts";
import { FrameStore } from "../../../src/hardware/frames.ts";
import { PartyIO } from "../../../src/kit/outbox.ts";
import type { StepOutput } from "../../../src/kit/party.ts";

// Errnos as the kernel returns them (include/uapi/asm-generic/errno-base.h), written out here so the
// expectations do not come from the code under test.
const EPERM = -1;
const ENOENT = -2;
const EBUSY = -16;
const EINVAL = -22;

const O = "PKVM_PAGE_OWNED";
const SO = "PKVM_PAGE_SHARED_OWNED";
const SB = "PKVM_PAGE_SHARED_BORROWED";
const N = "PKVM_NOPAGE";
const P = "PKVM_POISON";
const SHORT: Readonly<Record<PageState, string>> = {
  [O]: "O",
  [SO]: "SO",
  [SB]: "SB",
  [N]: "N",
  [P]: "P",
};

const PAGE = 0x1000;
const RAM_PAGES = 0x1_0000;
/** The selftest page (hyp_alloc_pages(&host_s2_pool, 0) in the kernel). */
const PFN = 0x4321;
/** selftest_ipa() >> PAGE_SHIFT = BIT(ia_bits - 1) >> 12, with a 32-bit IPA space. */
const GFN = 0x8_0000;
/** The model names the VM by a loaded vCPU index; the kernel passes the hyp vCPU pointer. */
const VCPU = 0;

const ERRNO_NAME: Readonly<Record<number, string>> = {
  0: "0",
  [EPERM]: "-EPERM",
  [ENOENT]: "-ENOENT",
  [EBUSY]: "-EBUSY",
  [EINVAL]: "-EINVAL",
};
const errName = (ret: number): string => ERRNO_NAME[ret] ?? String(ret);

type Effects = StepOutput["effects"];

/**
 * hyp_page.host_share_guest_count: private in PkvmMemProtect (no accessor); the selftest reads it
 * directly (`WARN_ON(hyp_virt_to_page(virt)->host_share_guest_count != 2)`).
 */
const shareCount = (mp: PkvmMemProtect, pfn: number): number =>
  (mp as unknown as { shareCount: Map<number, number> }).shareCount.get(pfn) ?? 0;

/** One PkvmMemProtect with its frames and effect buffer, driven only through its own calls. */
class Machine {
  readonly frames = new FrameStore();
  readonly io = new PartyIO();
  readonly mp: PkvmMemProtect;

  /** The selftest with the relinquish step is ACK16's (MEM_RELINQUISH is Android-only). */
  constructor(profile: PkvmProfile = PROFILES["android16-6.12"] as PkvmProfile) {
    this.mp = new PkvmMemProtect(this.frames, this.io, RAM_PAGES, profile);
  }

  hypVm(handle: number): HypVm {
    const vm = this.mp.vms.get(handle);
    if (!vm) throw new Error(`bug in test: no VM ${handle}`);
    return vm;
  }

  guest(handle: number, gfn: number): PageState {
    return this.mp.guest_get_page_state(this.hypVm(handle), gfn);
  }

  /**
   * Make `handle`'s vCPU 0 the loaded one, putting whichever vCPU 0 is loaded first: pKVM loads one
   * hyp vCPU per physical CPU, and the model's host->guest calls find their VM by the loaded vCPU.
   */
  load(handle: number): void {
    if (this.mp.vmLoading(VCPU)) expect(this.mp.vcpuPut(VCPU)).toBe(0);
    expect(this.mp.vcpuLoad(handle, VCPU)).toBe(0);
  }

  effects(): Effects {
    return [...this.io.drain().effects];
  }

  /** Everything a refused call must leave alone, for the pages in `pfns`. */
  snapshot(pfns: readonly number[]): string {
    const { mp } = this;
    return JSON.stringify({
      pages: pfns.map((pfn) => ({
        pfn,
        host: mp.host_get_page_state(pfn),
        hyp: mp.hyp_get_page_state(pfn),
        annotation: mp.annotation(pfn) ?? null,
        pins: mp.hypPins.get(pfn) ?? 0,
        shares: shareCount(mp, pfn),
        frame: this.frames.get(pfn),
      })),
      vms: [...mp.vms.values()].map((vm) => ({
        handle: vm.handle,
        protected: vm.protected,
        dying: vm.dying,
        loaded: [...vm.loaded],
        s2: [...vm.s2],
        poisonFault: [...vm.poisonFault],
      })),
    });
  }
}

const zeroes = (effects: Effects, pfn: number) =>
  effects.filter((e) => e.e === "zero" && e.by === "fw" && e.hpa === pfn * PAGE);

// ---------------------------------------------------------------------------------------------
// 1. pkvm_ownership_selftest()
// ---------------------------------------------------------------------------------------------

/** The selftest's world: one page, one VM at a time (the kernel's static selftest_vm). */
class Selftest extends Machine {
  readonly pfn = PFN;
  readonly gfn = GFN;
  /** The selftest VM: non-protected until K0, then the protected one. */
  vm = 0;
  npVm = 0;
  pVm = 0;

  /** host/hyp/guest[gfn]/guest[gfn+1], as selftest_state. */
  state(): string {
    const { mp, pfn, gfn } = this;
    return [
      mp.host_get_page_state(pfn),
      mp.hyp_get_page_state(pfn),
      this.guest(this.vm, gfn),
      this.guest(this.vm, gfn + 1),
    ]
      .map((s) => SHORT[s])
      .join("/");
  }
}

interface SelftestCall {
  /** The kernel call, as the selftest makes it. */
  readonly kernel: string;
  /** The model call. */
  readonly model: string;
  readonly run: (t: Selftest) => number;
}

// The model's API next to the kernel's. Differences: the model's host->guest calls take the loaded
// vCPU index (the kernel passes the hyp vCPU pointer); unshare_guest takes the VM handle (the kernel
// passes the hyp VM); hyp_pin_shared_mem takes a pfn (the kernel takes a hyp VA range); relinquish
// takes the HypVm and a gfn (the kernel takes the vCPU and an IPA and returns the PA through a
// pointer: the model returns only the status); the model has no prot argument (always RWX).
const CALL = {
  donateHyp: {
    kernel: "__pkvm_host_donate_hyp(pfn, 1)",
    model: "hostDonateHyp(pfn, 1)",
    run: (t) => t.mp.hostDonateHyp(t.pfn, 1),
  },
  shareHyp: {
    kernel: "__pkvm_host_share_hyp(pfn)",
    model: "hostShareHyp(pfn)",
    run: (t) => t.mp.hostShareHyp(t.pfn),
  },
  unshareHyp: {
    kernel: "__pkvm_host_unshare_hyp(pfn)",
    model: "hostUnshareHyp(pfn)",
    run: (t) => t.mp.hostUnshareHyp(t.pfn),
  },
  hypDonateHost: {
    kernel: "__pkvm_hyp_donate_host(pfn, 1)",
    model: "hypDonateHost(pfn, 1)",
    run: (t) => t.mp.hypDonateHost(t.pfn, 1),
  },
  pin: {
    kernel: "hyp_pin_shared_mem(virt, virt + size)",
    model: "hypPinSharedMem(pfn)",
    run: (t) => t.mp.hypPinSharedMem(t.pfn),
  },
  shareGuest: {
    kernel: "__pkvm_host_share_guest(pfn, gfn, 1, vcpu, prot)",
    model: "hostShareGuest(pfn, gfn, 1, vcpu)",
    run: (t) => t.mp.hostShareGuest(t.pfn, t.gfn, 1, VCPU),
  },
  shareGuest1: {
    kernel: "__pkvm_host_share_guest(pfn, gfn + 1, 1, vcpu, prot)",
    model: "hostShareGuest(pfn, gfn + 1, 1, vcpu)",
    run: (t) => t.mp.hostShareGuest(t.pfn, t.gfn + 1, 1, VCPU),
  },
  unshareGuest: {
    kernel: "__pkvm_host_unshare_guest(gfn, 1, vm)",
    model: "hostUnshareGuest(handle, gfn, 1)",
    run: (t) => t.mp.hostUnshareGuest(t.vm, t.gfn, 1),
  },
  unshareGuest1: {
    kernel: "__pkvm_host_unshare_guest(gfn + 1, 1, vm)",
    model: "hostUnshareGuest(handle, gfn + 1, 1)",
    run: (t) => t.mp.hostUnshareGuest(t.vm, t.gfn + 1, 1),
  },
  donateGuest: {
    kernel: "__pkvm_host_donate_guest(pfn, gfn, vcpu, 1)",
    model: "hostDonateGuest(pfn, gfn, vcpu)",
    run: (t) => t.mp.hostDonateGuest(t.pfn, t.gfn, VCPU),
  },
  donateGuest1: {
    kernel: "__pkvm_host_donate_guest(pfn, gfn + 1, vcpu, 1)",
    model: "hostDonateGuest(pfn, gfn + 1, vcpu)",
    run: (t) => t.mp.hostDonateGuest(t.pfn, t.gfn + 1, VCPU),
  },
  relinquish: {
    kernel: "__pkvm_guest_relinquish_to_host(vcpu, gfn * PAGE_SIZE, &pa)",
    model: "guestRelinquish(vm, gfn)",
    run: (t) => t.mp.guestRelinquish(t.hypVm(t.vm), t.gfn).ret,
  },
} as const satisfies Record<string, SelftestCall>;

interface CallRow {
  /** The step id in pkvm_ownership_selftest (a range like "C2-C7" for a run of its rows). */
  readonly step: string;
  readonly call: SelftestCall;
  readonly ret: number;
  /** selftest_state after the call: host/hyp/guest[gfn]/guest[gfn+1]. */
  readonly after: string;
  /** Only in the Android common kernel's selftest (ACK-a). */
  readonly ack?: true;
  readonly extra?: (t: Selftest, effects: Effects) => void;
}

interface StepRow {
  readonly step: string;
  readonly what: string;
  readonly run: (t: Selftest) => void;
}

type Row = CallRow | StepRow;

// The EL2 __pkvm_host_share_guest / __pkvm_host_donate_guest (ACK-a, id 3604157881) check no VM
// kind (the hyp-main handler does): called directly, a donate to the non-protected selftest VM and
// a share to the protected one fail the *state* checks with -EPERM, here as in the kernel.

// FFA rows (__pkvm_host_share_ffa / __pkvm_host_unshare_ffa: A4, A5, B4, the share_ffa in C2-C7,
// C11-C16, G3-G8 and K2-K11, and the whole E and F phases) are not modelled: PkvmMemProtect has no FF-A
// calls, and E1 (share_ffa) is the only way into the E phase's host SO / hyp N state, so E2-E9 and
// F1-F2 are left out with it.
const SELFTEST: readonly Row[] = [
  // The selftest starts from hyp_alloc_pages(): hyp OWNED, host NOPAGE. The model reaches that with a
  // donation (not a selftest row).
  { step: "setup", call: CALL.donateHyp, ret: 0, after: "N/O/N/N" },
  { step: "A1", call: CALL.donateHyp, ret: EPERM, after: "N/O/N/N" },
  { step: "A2", call: CALL.shareHyp, ret: EPERM, after: "N/O/N/N" },
  { step: "A3", call: CALL.unshareHyp, ret: EPERM, after: "N/O/N/N" },
  { step: "A6", call: CALL.pin, ret: EPERM, after: "N/O/N/N" },
  { step: "A7", call: CALL.shareGuest, ret: EPERM, after: "N/O/N/N" },
  { step: "A8", call: CALL.unshareGuest, ret: ENOENT, after: "N/O/N/N" },
  { step: "A9", call: CALL.donateGuest, ret: EPERM, after: "N/O/N/N", ack: true },

  { step: "B1", call: CALL.hypDonateHost, ret: 0, after: "O/N/N/N" },
  { step: "B2", call: CALL.hypDonateHost, ret: EPERM, after: "O/N/N/N" },
  { step: "B3", call: CALL.unshareHyp, ret: EPERM, after: "O/N/N/N" },
  { step: "B5", call: CALL.unshareGuest, ret: ENOENT, after: "O/N/N/N" },
  { step: "B6", call: CALL.pin, ret: EPERM, after: "O/N/N/N" },

  { step: "C1", call: CALL.shareHyp, ret: 0, after: "SO/SB/N/N" },
  { step: "C2-C7", call: CALL.shareHyp, ret: EPERM, after: "SO/SB/N/N" },
  { step: "C2-C7", call: CALL.donateHyp, ret: EPERM, after: "SO/SB/N/N" },
  { step: "C2-C7", call: CALL.hypDonateHost, ret: EPERM, after: "SO/SB/N/N" },
  { step: "C2-C7", call: CALL.shareGuest, ret: EPERM, after: "SO/SB/N/N" },
  { step: "C7'", call: CALL.unshareGuest, ret: ENOENT, after: "SO/SB/N/N" },
  { step: "C7''", call: CALL.donateGuest, ret: EPERM, after: "SO/SB/N/N", ack: true },
  { step: "C8", call: CALL.pin, ret: 0, after: "SO/SB/N/N" },
  { step: "C9", call: CALL.pin, ret: 0, after: "SO/SB/N/N" },
  {
    step: "C9+",
    what: "unpin once (hyp_unpin_shared_mem), leaving hyp_page_count(virt) == 1 and the state alone",
    run: (t) => {
      expect(t.mp.hypPins.get(t.pfn)).toBe(2);
      t.mp.hypUnpinSharedMem(t.pfn);
      expect(t.mp.hypPins.get(t.pfn)).toBe(1);
      expect(t.state()).toBe("SO/SB/N/N");
    },
  },
  { step: "C10", call: CALL.unshareHyp, ret: EBUSY, after: "SO/SB/N/N" },
  { step: "C11-C16", call: CALL.shareHyp, ret: EPERM, after: "SO/SB/N/N" },
  { step: "C11-C16", call: CALL.donateHyp, ret: EPERM, after: "SO/SB/N/N" },
  { step: "C11-C16", call: CALL.hypDonateHost, ret: EPERM, after: "SO/SB/N/N" },
  { step: "C11-C16", call: CALL.shareGuest, ret: EPERM, after: "SO/SB/N/N" },
  { step: "C11-C16", call: CALL.unshareGuest, ret: ENOENT, after: "SO/SB/N/N" },
  {
    step: "C11-C16",
    call: CALL.donateGuest,
    ret: EPERM,
    after: "SO/SB/N/N",
    ack: true,
  },
  {
    step: "C16+",
    what: "unpin again, leaving hyp_page_count(virt) == 0 and the state alone",
    run: (t) => {
      t.mp.hypUnpinSharedMem(t.pfn);
      expect(t.mp.hypPins.get(t.pfn) ?? 0).toBe(0);
      expect(t.state()).toBe("SO/SB/N/N");
    },
  },
  { step: "D1", call: CALL.unshareHyp, ret: 0, after: "O/N/N/N" },

  { step: "G1", call: CALL.shareGuest, ret: 0, after: "SO/N/SB/N" },
  { step: "G2", call: CALL.shareGuest, ret: EPERM, after: "SO/N/SB/N" },
  { step: "G3-G8", call: CALL.donateHyp, ret: EPERM, after: "SO/N/SB/N" },
  { step: "G3-G8", call: CALL.shareHyp, ret: EPERM, after: "SO/N/SB/N" },
  { step: "G3-G8", call: CALL.unshareHyp, ret: EPERM, after: "SO/N/SB/N" },
  { step: "G3-G8", call: CALL.hypDonateHost, ret: EPERM, after: "SO/N/SB/N" },
  {
    step: "G3-G8",
    call: CALL.donateGuest,
    ret: EPERM,
    after: "SO/N/SB/N",
    ack: true,
  },
  { step: "G3-G8", call: CALL.pin, ret: EPERM, after: "SO/N/SB/N" },
  // "Only host to np-guest multi-sharing is tolerated": a second IPA may map the same page.
  {
    step: "H1",
    call: CALL.shareGuest1,
    ret: 0,
    after: "SO/N/SB/SB",
    extra: (t) => expect(shareCount(t.mp, t.pfn)).toBe(2),
  },
  {
    step: "I1",
    call: CALL.unshareGuest,
    ret: 0,
    after: "SO/N/N/SB",
    extra: (t) => expect(shareCount(t.mp, t.pfn)).toBe(1),
  },
  {
    step: "J1",
    call: CALL.unshareGuest1,
    ret: 0,
    after: "O/N/N/N",
    extra: (t) => expect(shareCount(t.mp, t.pfn)).toBe(0),
  },

  {
    step: "K0",
    // The kernel flips selftest_vm.kvm.arch.pkvm.enabled on the same VM; the model fixes the kind at
    // initVm, so the protected rows run on a second VM whose vCPU 0 replaces the first one's.
    what: "make the selftest VM protected (model: a second VM, initVm(true, 1), its vCPU 0 loaded)",
    run: (t) => {
      expect(t.mp.vcpuPut(VCPU)).toBe(0);
      t.pVm = t.mp.initVm(true, 1);
      expect(t.mp.vcpuLoad(t.pVm, VCPU)).toBe(0);
      t.vm = t.pVm;
      expect(t.state()).toBe("O/N/N/N");
    },
  },
  {
    step: "K1",
    call: CALL.donateGuest,
    ret: 0,
    after: "N/N/O/N",
    ack: true,
    extra: (t, effects) => {
      expect(t.mp.annotation(t.pfn)).toEqual({ owner: "guest", handle: t.pVm, gfn: t.gfn });
      expect(zeroes(effects, t.pfn)).toEqual([]); // donation does not zero
    },
  },
  { step: "K2-K11", call: CALL.donateGuest, ret: EPERM, after: "N/N/O/N", ack: true },
  { step: "K2-K11", call: CALL.donateGuest1, ret: EPERM, after: "N/N/O/N", ack: true },
  { step: "K2-K11", call: CALL.shareGuest, ret: EPERM, after: "N/N/O/N", ack: true },
  { step: "K2-K11", call: CALL.shareGuest1, ret: EPERM, after: "N/N/O/N", ack: true },
  { step: "K2-K11", call: CALL.donateHyp, ret: EPERM, after: "N/N/O/N", ack: true },
  { step: "K2-K11", call: CALL.shareHyp, ret: EPERM, after: "N/N/O/N", ack: true },
  { step: "K2-K11", call: CALL.unshareHyp, ret: EPERM, after: "N/N/O/N", ack: true },
  { step: "K2-K11", call: CALL.hypDonateHost, ret: EPERM, after: "N/N/O/N", ack: true },
  {
    step: "L1",
    call: CALL.relinquish,
    ret: 0,
    // ACK-b: relinquish unmaps the IPA (NOPAGE, not POISON) and gives the page to the host.
    after: "O/N/N/N",
    ack: true,
    // WARN_ON(pa != phys): the model returns no PA; the page it poisons (zeroes) stands in for it.
    extra: (t, effects) => {
      expect(zeroes(effects, t.pfn)).toHaveLength(1);
      expect(t.frames.get(t.pfn).content).toEqual({ k: "zero" });
      expect(t.mp.annotation(t.pfn)).toBeUndefined();
    },
  },

  // Back to the start: the kernel then hyp_put_page()s it.
  { step: "Z1", call: CALL.donateHyp, ret: 0, after: "N/O/N/N" },
];

const isCall = (row: Row): row is CallRow => "call" in row;
const CALL_ROWS = SELFTEST.filter(isCall).filter((r) => r.step !== "setup");

describe("pkvm_ownership_selftest on PkvmMemProtect", () => {
  const t = new Selftest();

  beforeAll(() => {
    // The selftest VM: non-protected for share_guest / unshare_guest (init_selftest_vm()).
    t.npVm = t.mp.initVm(false, 1);
    t.vm = t.npVm;
    expect(t.mp.vcpuLoad(t.npVm, VCPU)).toBe(0);
    expect(t.state()).toBe("O/N/N/N");
  });

  // U616 makes 54 calls: 37 here; 17 are FFA calls or in the FFA-only E phase. ACK-a adds 16: 14 here
  // (the E-phase donate_guest and the K-phase share_ffa are left out).
  it("should cover the selftest's non-FFA calls: 51 rows, 14 of them ACK-only", () => {
    expect(CALL_ROWS).toHaveLength(51);
    expect(CALL_ROWS.filter((r) => r.ack)).toHaveLength(14);
  });

  for (const row of SELFTEST) {
    const id = `${row.step}${isCall(row) && row.ack ? " [ACK]" : ""}`;
    if (!isCall(row)) {
      it(`should ${row.what} (step ${id})`, () => row.run(t));
      continue;
    }
    const verb = row.ret === 0 ? "succeed" : `refuse with ${errName(row.ret)}`;
    const title = `should ${verb} on ${row.call.kernel} (${row.call.model}) and leave ${row.after} (step ${id})`;
    const body = (): void => {
      const before = t.snapshot([t.pfn]);
      t.effects();
      const ret = row.call.run(t);
      const effects = t.effects();
      // assert_transition_res(): the return value and the whole state, in one comparison.
      expect({ ret: errName(ret), state: t.state() }).toEqual({ ret: errName(row.ret), state: row.after });
      if (ret !== 0) {
        expect(t.snapshot([t.pfn])).toBe(before);
        expect(effects).toEqual([]);
      }
      row.extra?.(t, effects);
    };
    it(title, body);
  }
});

// ---------------------------------------------------------------------------------------------
// 2. TRANSITIONS, every host-initiated row from every reachable start state
// ---------------------------------------------------------------------------------------------

const HOST_CALLS = [
  "__pkvm_host_share_hyp",
  "__pkvm_host_unshare_hyp",
  "__pkvm_host_donate_hyp",
  "__pkvm_hyp_donate_host",
  "__pkvm_host_donate_guest",
  "__pkvm_host_share_guest",
  "__pkvm_host_unshare_guest",
] as const satisfies readonly PkvmCall[];
type HostCall = (typeof HOST_CALLS)[number];
type GuestCall = Extract<
  HostCall,
  "__pkvm_host_donate_guest" | "__pkvm_host_share_guest" | "__pkvm_host_unshare_guest"
>;
type Kind = "protected" | "non-protected";

/** The VM kind each host->guest call is for (the EL2 handler answers -EINVAL for the other kind). */
const KIND_FOR: Readonly<Record<GuestCall, Kind>> = {
  __pkvm_host_donate_guest: "protected",
  __pkvm_host_share_guest: "non-protected",
  __pkvm_host_unshare_guest: "non-protected",
};
const isGuestCall = (call: HostCall): call is GuestCall => call in KIND_FOR;

/** A VM world: one non-protected and one protected VM, one vCPU each. */
class World extends Machine {
  readonly np = this.mp.initVm(false, 1);
  readonly p = this.mp.initVm(true, 1);

  handle(kind: Kind): number {
    return kind === "protected" ? this.p : this.np;
  }

  /** Every page-state a call could touch: host and hyp of PFN, both VMs at GFN and GFN + 1. */
  view(): Record<string, PageState> {
    const view: Record<string, PageState> = {
      host: this.mp.host_get_page_state(PFN),
      hyp: this.mp.hyp_get_page_state(PFN),
    };
    for (const kind of ["non-protected", "protected"] as const)
      for (const gfn of [GFN, GFN + 1]) view[`${kind}@${gfn - GFN}`] = this.guest(this.handle(kind), gfn);
    return view;
  }
}

interface Start {
  readonly name: string;
  readonly host: PageState;
  readonly hyp: PageState;
  /** EL2 pins on the page (hyp_pin_shared_mem). */
  readonly pins: number;
  /** host_share_guest_count. */
  readonly shares: number;
  /** The guest mapping of PFN, if any (always at GFN). */
  readonly guest?: { readonly kind: Kind; readonly state: PageState };
  readonly build: (w: World) => void;
}

const START: readonly Start[] = [
  { name: "host OWNED", host: O, hyp: N, pins: 0, shares: 0, build: () => {} },
  {
    name: "host SHARED_OWNED, hyp SHARED_BORROWED",
    host: SO,
    hyp: SB,
    pins: 0,
    shares: 0,
    build: (w) => expect(w.mp.hostShareHyp(PFN)).toBe(0),
  },
  {
    name: "host SHARED_OWNED, hyp SHARED_BORROWED, pinned by EL2",
    host: SO,
    hyp: SB,
    pins: 1,
    shares: 0,
    build: (w) => {
      expect(w.mp.hostShareHyp(PFN)).toBe(0);
      expect(w.mp.hypPinSharedMem(PFN)).toBe(0);
    },
  },
  {
    name: "host NOPAGE, hyp OWNED",
    host: N,
    hyp: O,
    pins: 0,
    shares: 0,
    build: (w) => expect(w.mp.hostDonateHyp(PFN, 1)).toBe(0),
  },
  {
    name: "host NOPAGE, donated to a protected guest",
    host: N,
    hyp: N,
    pins: 0,
    shares: 0,
    guest: { kind: "protected", state: O },
    build: (w) => {
      w.load(w.p);
      expect(w.mp.hostDonateGuest(PFN, GFN, VCPU)).toBe(0);
    },
  },
  {
    name: "host SHARED_OWNED, shared with a non-protected guest",
    host: SO,
    hyp: N,
    pins: 0,
    shares: 1,
    guest: { kind: "non-protected", state: SB },
    build: (w) => {
      w.load(w.np);
      expect(w.mp.hostShareGuest(PFN, GFN, 1, VCPU)).toBe(0);
    },
  },
  {
    name: "host SHARED_BORROWED after the protected guest's MEM_SHARE",
    host: SB,
    hyp: N,
    pins: 0,
    shares: 0,
    guest: { kind: "protected", state: SO },
    build: (w) => {
      w.load(w.p);
      expect(w.mp.hostDonateGuest(PFN, GFN, VCPU)).toBe(0);
      expect(w.mp.guestShareHost(w.hypVm(w.p), GFN)).toBe(0);
    },
  },
];

interface Target {
  readonly kind: Kind;
  readonly gfn: number;
}

interface Case {
  readonly call: HostCall;
  readonly start: Start;
  /** For host->guest calls: the VM and IPA it targets. */
  readonly target?: Target;
}

interface Outcome {
  readonly ret: number;
  /** The states a successful call leaves: host, hyp and the targeted guest IPA. */
  readonly to?: { readonly host: PageState; readonly hyp: PageState; readonly guest?: PageState };
  readonly why: string;
}

const guestStateAt = (start: Start, target: Target): PageState =>
  start.guest && start.guest.kind === target.kind && target.gfn === GFN ? start.guest.state : N;

/** The outcome the TRANSITIONS row (and its documented exceptions) predicts for a case. */
function predict({ call, start, target }: Case): Outcome {
  const row = TRANSITIONS[call];
  const guest = target ? guestStateAt(start, target) : undefined;
  // Row note: "-ENOENT when the IPA maps nothing" (the selftest's A8/B5/C7').
  if (call === "__pkvm_host_unshare_guest" && guest === N)
    return { ret: ENOENT, why: "the IPA maps nothing" };
  const states = { host: start.host, hyp: start.hyp, guest };
  const wrong = row.wrongState === "-ENOENT" ? ENOENT : EPERM;
  for (const component of ["host", "hyp", "guest"] as const) {
    const change = row[component];
    const state = states[component];
    if (change && state && !change.from.includes(state))
      return {
        ret: wrong,
        why: `${component} ${SHORT[state]} is not in ${change.from.map((s) => SHORT[s])}`,
      };
  }
  // Row note: "SHARED_OWNED only while shared with guests (count > 0)" (a page shared with hyp is SO too).
  if (call === "__pkvm_host_share_guest" && start.host === SO && start.shares === 0)
    return { ret: EPERM, why: "host SO but not shared with a guest" };
  // Row note: "-EBUSY while EL2 holds a pin on it".
  if (call === "__pkvm_host_unshare_hyp" && start.pins > 0) return { ret: EBUSY, why: "pinned by EL2" };
  const to = {
    host: row.host?.to ?? start.host,
    hyp: row.hyp?.to ?? start.hyp,
    ...(guest ? { guest: row.guest?.to ?? guest } : {}),
  };
  // Row note: "host OWNED once the share count reaches 0".
  if (call === "__pkvm_host_unshare_guest" && start.shares > 1) to.host = SO;
  return { ret: 0, to, why: "every touched component is in `from`" };
}

function invoke(w: World, { call, target }: Case): number {
  const { mp } = w;
  switch (call) {
    case "__pkvm_host_share_hyp":
      return mp.hostShareHyp(PFN);
    case "__pkvm_host_unshare_hyp":
      return mp.hostUnshareHyp(PFN);
    case "__pkvm_host_donate_hyp":
      return mp.hostDonateHyp(PFN, 1);
    case "__pkvm_hyp_donate_host":
      return mp.hypDonateHost(PFN, 1);
    case "__pkvm_host_donate_guest":
      return mp.hostDonateGuest(PFN, target!.gfn, VCPU);
    case "__pkvm_host_share_guest":
      return mp.hostShareGuest(PFN, target!.gfn, 1, VCPU);
    case "__pkvm_host_unshare_guest":
      return mp.hostUnshareGuest(w.handle(target!.kind), target!.gfn, 1);
  }
}

const CASES: Case[] = [];
for (const call of HOST_CALLS)
  for (const start of START) {
    if (!isGuestCall(call)) {
      CASES.push({ call, start });
      continue;
    }
    for (const kind of ["non-protected", "protected"] as const)
      for (const gfn of [GFN, GFN + 1]) CASES.push({ call, start, target: { kind, gfn } });
  }

const caseTitle = (c: Case): string => {
  const o = predict(c);
  const to = o.to
    ? `succeed leaving host ${SHORT[o.to.host]}, hyp ${SHORT[o.to.hyp]}${o.to.guest ? `, guest ${SHORT[o.to.guest]}` : ""}`
    : `refuse with ${errName(o.ret)} (${o.why}) changing nothing`;
  const target = c.target ? ` to the ${c.target.kind} VM at gfn${c.target.gfn === GFN ? "" : " + 1"}` : "";
  return `should ${to}: ${c.call}${target} from ${c.start.name}`;
};

describe("TRANSITIONS: host-initiated calls from every reachable start state", () => {
  it("should generate 4 x 7 host/hyp cases and 3 x 7 x 2 VM kinds x 2 IPAs host->guest cases (112)", () => {
    expect(CASES).toHaveLength(4 * 7 + 3 * 7 * 2 * 2);
    expect(CASES).toHaveLength(112);
    // Every row succeeds from at least one start state, so each row's `to` is exercised.
    for (const call of HOST_CALLS)
      expect(CASES.some((c) => c.call === call && predict(c).ret === 0)).toBe(true);
  });

  for (const c of CASES) {
    it(caseTitle(c), () => {
      const w = new World();
      c.start.build(w);
      // The VM whose vCPU a host->guest call needs must be the loaded one (unshare_guest takes a handle).
      if (c.target && c.call !== "__pkvm_host_unshare_guest") w.load(w.handle(c.target.kind));
      const start = w.view();
      expect({
        host: start.host,
        hyp: start.hyp,
        pins: w.mp.hypPins.get(PFN) ?? 0,
        shares: shareCount(w.mp, PFN),
      }).toEqual({ host: c.start.host, hyp: c.start.hyp, pins: c.start.pins, shares: c.start.shares });
      const key = c.target ? `${c.target.kind}@${c.target.gfn - GFN}` : undefined;
      if (c.target) expect(start[key!]).toBe(guestStateAt(c.start, c.target));
      const before = w.snapshot([PFN]);
      w.effects();

      const expected = predict(c);
      const ret = invoke(w, c);
      const effects = w.effects();
      expect(errName(ret)).toBe(errName(expected.ret));

      if (!expected.to) {
        expect(w.snapshot([PFN])).toBe(before);
        expect(effects).toEqual([]);
        return;
      }
      const after: Record<string, PageState> = { ...start, host: expected.to.host, hyp: expected.to.hyp };
      if (key && expected.to.guest) after[key] = expected.to.guest;
      expect(w.view()).toEqual(after);
      // None of these rows zeroes the page (TransitionRow.zeroes); a donation's contents are not zeroed.
      expect(zeroes(effects, PFN)).toHaveLength(TRANSITIONS[c.call].zeroes ? 1 : 0);
      switch (c.call) {
        case "__pkvm_host_donate_hyp":
          expect(w.mp.annotation(PFN)).toEqual({ owner: "hyp" });
          break;
        case "__pkvm_hyp_donate_host":
          expect(w.mp.annotation(PFN)).toBeUndefined();
          break;
        case "__pkvm_host_donate_guest":
          expect(w.mp.annotation(PFN)).toEqual({
            owner: "guest",
            handle: w.handle(c.target!.kind),
            gfn: c.target!.gfn,
          });
          break;
        case "__pkvm_host_share_guest":
          expect(shareCount(w.mp, PFN)).toBe(c.start.shares + 1);
          break;
        case "__pkvm_host_unshare_guest":
          expect(shareCount(w.mp, PFN)).toBe(c.start.shares - 1);
          break;
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// 3. Teardown and forced reclaim
// ---------------------------------------------------------------------------------------------

const SECRET: Content = { k: "data", writer: "guest", tag: "secret", secret: true };
const SHARED: Content = { k: "data", writer: "guest", tag: "virtio ring", secret: false };

/** A protected VM with vCPU 0 loaded; PFN donated at GFN holding a secret, PFN + 1 at GFN + 1 shared back. */
function protectedGuest(profile?: PkvmProfile): { w: World; vm: HypVm } {
  const w = new World(profile);
  const vm = w.hypVm(w.p);
  w.load(w.p);
  expect(w.mp.hostDonateGuest(PFN, GFN, VCPU)).toBe(0);
  w.frames.set(PFN, { content: SECRET, keyId: 0, poisoned: false });
  expect(w.mp.hostDonateGuest(PFN + 1, GFN + 1, VCPU)).toBe(0);
  expect(w.mp.guestShareHost(vm, GFN + 1)).toBe(0);
  w.frames.set(PFN + 1, { content: SHARED, keyId: 0, poisoned: false });
  expect([w.guest(w.p, GFN), w.guest(w.p, GFN + 1)]).toEqual([O, SO]);
  w.effects();
  return { w, vm };
}

describe("pKVM teardown and forced reclaim", () => {
  it("should refuse startTeardown with EBUSY while a vCPU is loaded, then accept it and refuse new loads", () => {
    const { w, vm } = protectedGuest();
    const before = w.snapshot([PFN, PFN + 1]);
    expect(errName(w.mp.startTeardown(w.p))).toBe("-EBUSY");
    expect(vm.dying).toBe(false);
    expect(w.snapshot([PFN, PFN + 1])).toBe(before);
    expect(w.mp.vcpuPut(VCPU)).toBe(0);
    expect(w.mp.startTeardown(w.p)).toBe(0);
    expect(vm.dying).toBe(true);
    expect(errName(w.mp.vcpuLoad(w.p, VCPU))).toBe("-EINVAL");
  });

  it("should refuse reclaimDyingGuestPage with EINVAL before startTeardown, changing nothing", () => {
    const { w } = protectedGuest();
    expect(w.mp.vcpuPut(VCPU)).toBe(0);
    const before = w.snapshot([PFN, PFN + 1]);
    expect(errName(w.mp.reclaimDyingGuestPage(w.p, GFN))).toBe("-EINVAL");
    expect(errName(w.mp.reclaimDyingGuestPage(w.p, GFN + 1))).toBe("-EINVAL");
    expect(w.snapshot([PFN, PFN + 1])).toBe(before);
    expect(w.effects()).toEqual([]);
  });

  it("should zero a guest-OWNED page on reclaimDyingGuestPage and return a SHARED_OWNED one as it is", () => {
    const { w } = protectedGuest();
    expect(w.mp.vcpuPut(VCPU)).toBe(0);
    expect(w.mp.startTeardown(w.p)).toBe(0);

    expect(w.mp.reclaimDyingGuestPage(w.p, GFN)).toBe(0);
    const owned = w.effects();
    expect(w.frames.get(PFN).content).toEqual({ k: "zero" });
    expect(zeroes(owned, PFN)).toEqual([
      expect.objectContaining({ e: "zero", by: "fw", hpa: PFN * PAGE, pages: 1 }),
    ]);
    expect([w.mp.host_get_page_state(PFN), w.guest(w.p, GFN), w.mp.annotation(PFN)]).toEqual([
      O,
      N,
      undefined,
    ]);

    expect(w.mp.reclaimDyingGuestPage(w.p, GFN + 1)).toBe(0);
    const shared = w.effects();
    expect(w.frames.get(PFN + 1).content).toEqual(SHARED);
    expect(zeroes(shared, PFN + 1)).toEqual([]);
    expect(shared.filter((e) => e.e === "zero")).toEqual([]);
    expect([w.mp.host_get_page_state(PFN + 1), w.guest(w.p, GFN + 1)]).toEqual([O, N]);
  });

  it("should finalize a dying VM without checking every page came back (ACK16 and 7.1 alike)", () => {
    const { w } = protectedGuest();
    expect(w.mp.vcpuPut(VCPU)).toBe(0);
    expect(errName(w.mp.finalizeTeardown(w.p))).toBe("-EBUSY");
    expect(w.mp.startTeardown(w.p)).toBe(0);
    expect(w.mp.reclaimDyingGuestPage(w.p, GFN)).toBe(0);
    expect(w.mp.finalizeTeardown(w.p)).toBe(0);
    expect(w.mp.vms.has(w.p)).toBe(false);
    // The page never reclaimed keeps its guest annotation: the host never gets it back.
    expect([w.mp.host_get_page_state(PFN + 1), w.mp.annotation(PFN)]).toEqual([SB, undefined]);
  });

  it("should poison the IPA, zero the page and give it to the host on forceReclaimGuestPage; a later donation to that IPA is EPERM", () => {
    const { w } = protectedGuest(PROFILES["linux-7.1"] as PkvmProfile);
    expect(w.mp.forceReclaimGuestPage(PFN)).toBe(0);
    const effects = w.effects();
    expect(w.guest(w.p, GFN)).toBe(P);
    expect(w.frames.get(PFN).content).toEqual({ k: "zero" });
    expect(zeroes(effects, PFN)).toEqual([
      expect.objectContaining({ e: "zero", by: "fw", hpa: PFN * PAGE, pages: 1 }),
    ]);
    expect([w.mp.host_get_page_state(PFN), w.mp.annotation(PFN)]).toEqual([O, undefined]);
    // The shared page is untouched.
    expect([w.mp.host_get_page_state(PFN + 1), w.guest(w.p, GFN + 1)]).toEqual([SB, SO]);

    // A POISON IPA is not NOPAGE: never populated again, with the same page or a fresh one.
    const before = w.snapshot([PFN, PFN + 2]);
    expect(errName(w.mp.hostDonateGuest(PFN, GFN, VCPU))).toBe("-EPERM");
    expect(errName(w.mp.hostDonateGuest(PFN + 2, GFN, VCPU))).toBe("-EPERM");
    expect(w.snapshot([PFN, PFN + 2])).toBe(before);
    expect(w.effects()).toEqual([]);
    expect(w.guest(w.p, GFN)).toBe(P);
  });
});
