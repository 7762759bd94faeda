// pKVM's per-component page states and the transitions between them, as data
// (arch/arm64/kvm/hyp/nvhe/mem_protect.c, android16-6.12 and v7.1; the ownership selftest since v6.16). Each row is a call, and for each
// component it touches, the states it must be in and the state it ends in. mem-protect.ts checks
// every component against its row before mutating anything; `cocomem describe pkvm` prints it.
import type { PageState } from "../../../protocol/index.ts";

export type Component = "host" | "hyp" | "guest";

export interface Change {
  readonly from: readonly PageState[];
  readonly to: PageState;
}

export interface TransitionRow {
  readonly host?: Change;
  readonly hyp?: Change;
  readonly guest?: Change;
  /** The errno when a component is in the wrong state. */
  readonly wrongState: "-EPERM" | "-ENOENT";
  /** Who zeroes the page on this transition (nobody unless said). */
  readonly zeroes?: "hyp";
  readonly note?: string;
}

const O = "PKVM_PAGE_OWNED";
const SO = "PKVM_PAGE_SHARED_OWNED";
const SB = "PKVM_PAGE_SHARED_BORROWED";
const N = "PKVM_NOPAGE";
const P = "PKVM_POISON";

export type PkvmCall =
  | "__pkvm_host_share_hyp"
  | "__pkvm_host_unshare_hyp"
  | "__pkvm_host_donate_hyp"
  | "__pkvm_hyp_donate_host"
  | "__pkvm_host_donate_guest"
  | "__pkvm_host_share_guest"
  | "__pkvm_host_unshare_guest"
  | "MEM_SHARE"
  | "MEM_UNSHARE"
  | "MEM_RELINQUISH"
  | "__pkvm_force_reclaim_guest_page"
  | "__pkvm_reclaim_dying_guest_page";

export const TRANSITIONS: Readonly<Record<PkvmCall, TransitionRow>> = {
  __pkvm_host_share_hyp: { host: { from: [O], to: SO }, hyp: { from: [N], to: SB }, wrongState: "-EPERM" },
  __pkvm_host_unshare_hyp: {
    host: { from: [SO], to: O },
    hyp: { from: [SB], to: N },
    wrongState: "-EPERM",
    note: "-EBUSY while EL2 holds a pin on it",
  },
  __pkvm_host_donate_hyp: { host: { from: [O], to: N }, hyp: { from: [N], to: O }, wrongState: "-EPERM" },
  __pkvm_hyp_donate_host: { hyp: { from: [O], to: N }, host: { from: [N], to: O }, wrongState: "-EPERM" },
  __pkvm_host_donate_guest: {
    host: { from: [O], to: N },
    guest: { from: [N], to: O },
    wrongState: "-EPERM",
    note: "protected VM, loaded vCPU; contents NOT zeroed; a POISON IPA is not NOPAGE",
  },
  __pkvm_host_share_guest: {
    host: { from: [O, SO], to: SO },
    guest: { from: [N], to: SB },
    wrongState: "-EPERM",
    note: "non-protected VM only; SHARED_OWNED only while shared with guests (count > 0)",
  },
  __pkvm_host_unshare_guest: {
    guest: { from: [SB], to: N },
    host: { from: [SO], to: O },
    wrongState: "-EPERM",
    note: "-ENOENT when the IPA maps nothing; host OWNED once the share count reaches 0",
  },
  MEM_SHARE: {
    guest: { from: [O], to: SO },
    host: { from: [N], to: SB },
    wrongState: "-EPERM",
    note: "in place: contents preserved, nobody zeroes (the guest must); unmapped IPA: fake abort, donate, re-execute",
  },
  MEM_UNSHARE: { guest: { from: [SO], to: O }, host: { from: [SB], to: N }, wrongState: "-EPERM" },
  MEM_RELINQUISH: {
    guest: { from: [O], to: N },
    host: { from: [N], to: O },
    wrongState: "-EPERM",
    zeroes: "hyp",
    note: "Android: the IPA is unmapped (NOPAGE), not poisoned",
  },
  __pkvm_force_reclaim_guest_page: {
    guest: { from: [O], to: P },
    host: { from: [N], to: O },
    wrongState: "-EPERM",
    zeroes: "hyp",
    note: "the IPA is POISON: never populated again; the guest's next access fails",
  },
  __pkvm_reclaim_dying_guest_page: {
    guest: { from: [O, SO, P], to: N },
    host: { from: [N, SB, O], to: O },
    wrongState: "-EPERM",
    zeroes: "hyp",
    note: "only a guest-OWNED page is poisoned; a shared page comes back as it is",
  },
};
