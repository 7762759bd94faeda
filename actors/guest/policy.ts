// Guest policies as data: which defences the guest kernel applies. `linux` follows today's Linux
// TD guest (arch/x86/coco/tdx/tdx.c, mm/unaccepted_memory.c); `naive` drops each defence, so
// running an attack against both shows what every defence is for.
export interface GuestPolicy {
  readonly name: "linux" | "naive";
  /** disable_sept_ve(): turn TD_CTLS.PENDING_VE_DISABLE on, or refuse to run ("TD misconfiguration"). */
  readonly disableSeptVe: boolean;
  /** On a #VE for a PENDING private page, accept it and retry (the silent-zero-page hazard). */
  readonly acceptOnVe: boolean;
  /** TDX_PAGE_ALREADY_ACCEPTED is a failure ("Failed to accept memory"), not a success. */
  readonly alreadyAcceptedIsFatal: boolean;
  /** Check MapGPA's RETRY address lies in the range and progresses (3 tries without progress). */
  readonly checkRetryGpa: boolean;
  /** Keep the accepted bitmap and never accept a unit twice. */
  readonly trackAccepted: boolean;
  /** Copy data from shared memory into private memory before checking and using it. */
  readonly copyBeforeUse: boolean;
}

export const GUEST_POLICIES: Readonly<Record<GuestPolicy["name"], GuestPolicy>> = {
  linux: {
    name: "linux",
    disableSeptVe: true,
    acceptOnVe: false,
    alreadyAcceptedIsFatal: true,
    checkRetryGpa: true,
    trackAccepted: true,
    copyBeforeUse: true,
  },
  naive: {
    name: "naive",
    disableSeptVe: false,
    acceptOnVe: true,
    alreadyAcceptedIsFatal: false,
    checkRetryGpa: false,
    trackAccepted: false,
    copyBeforeUse: false,
  },
};
