// TDX status codes (64-bit), from Linux arch/x86/include/asm/shared/tdx_errno.h and the TDX module ABI.
// Kept as bigint here and carried as exact hex strings on the wire.
import { type U64, u64 } from "./common.ts";

export const TDX_STATUS = {
  TDX_SUCCESS: 0x0n,
  TDX_OPERAND_BUSY: 0x8000020000000000n,
  TDX_PREVIOUS_TLB_EPOCH_BUSY: 0x8000020100000000n,
  TDX_OPERAND_INVALID: 0xc000010000000000n,
  TDX_OP_STATE_INCORRECT: 0xc000060800000000n,
  TDX_TD_KEYS_NOT_CONFIGURED: 0x8000081000000000n,
  TDX_LIFECYCLE_STATE_INCORRECT: 0xc000060700000000n,
  TDX_FLUSHVP_NOT_DONE: 0x8000082400000000n,
  TDX_VCPU_NOT_ASSOCIATED: 0x8000070200000000n,
  TDX_WBCACHE_NOT_COMPLETE: 0x8000081700000000n,
  TDX_NO_HKID_READY_TO_WBCACHE: 0x0000082100000000n,
  TDX_TD_ASSOCIATED_PAGES_EXIST: 0xc000040000000000n,
  TDX_PAGE_METADATA_INCORRECT: 0xc000030000000000n,
  TDX_PAGE_NOT_OWNED_BY_TD: 0xc000030200000000n,
  TDX_PAGE_NOT_FREE: 0xc000030300000000n,
  TDX_TD_FATAL: 0xe000060400000000n,
  TDX_VCPU_STATE_INCORRECT: 0xc000070000000000n,
  TDX_KEY_STATE_INCORRECT: 0xc000081100000000n,
  TDX_EPT_WALK_FAILED: 0xc0000b0000000000n,
  TDX_EPT_ENTRY_FREE: 0xc0000b0100000000n,
  TDX_EPT_ENTRY_NOT_FREE: 0xc0000b0200000000n,
  TDX_EPT_ENTRY_NOT_PRESENT: 0xc0000b0300000000n,
  TDX_EPT_ENTRY_NOT_LEAF: 0xc0000b0400000000n,
  TDX_EPT_ENTRY_STATE_INCORRECT: 0xc0000b0d00000000n,
  TDX_GPA_RANGE_NOT_BLOCKED: 0xc0000b0600000000n,
  TDX_GPA_RANGE_ALREADY_BLOCKED: 0x00000b0700000000n,
  TDX_TLB_TRACKING_NOT_DONE: 0xc0000b0800000000n,
  TDX_EPT_INVALID_PROMOTE_CONDITIONS: 0xc0000b0900000000n,
  TDX_PAGE_ALREADY_ACCEPTED: 0x00000b0a00000000n,
  TDX_PAGE_SIZE_MISMATCH: 0xc0000b0b00000000n,
  TDX_METADATA_FIELD_NOT_WRITABLE: 0xc0000c0100000000n,
  TDX_METADATA_FIELD_VALUE_NOT_VALID: 0xc0000c0300000000n,
} as const;
export type TdxStatusName = keyof typeof TDX_STATUS;

/** Operand ids OR-ed into the low bits of some statuses (TDX_OPERAND_ID_*). */
export const TDX_OPERAND_ID = {
  RCX: 0x1n,
  RDX: 0x2n,
  R8: 0x8n,
  TDR: 0x80n,
  SEPT: 0x92n,
  TD_EPOCH: 0xa9n,
} as const;

/** Build a wire status; `low` carries the level or operand id some statuses include. */
export function tdxStatus(name: TdxStatusName, low = 0n): U64 {
  return u64(TDX_STATUS[name] | low);
}

/** Bits 63:32 classify a status; the low bits carry details (level, operand). */
export function tdxStatusName(status: U64): string {
  const value = BigInt(status);
  const cls = value & 0xffffffff00000000n;
  for (const [name, code] of Object.entries(TDX_STATUS)) {
    if (code === value) return name;
  }
  for (const [name, code] of Object.entries(TDX_STATUS)) {
    if (code !== 0n && code === cls) return `${name}|0x${(value & 0xffffffffn).toString(16)}`;
  }
  return status;
}

export const isTdxError = (status: U64): boolean => BigInt(status) >> 63n === 1n;
export const isTdxSuccess = (status: U64): boolean => BigInt(status) === 0n;
export const tdxStatusIs = (status: U64, name: TdxStatusName): boolean =>
  (BigInt(status) & 0xffffffff00000000n) === TDX_STATUS[name];

/** TDG.VP.VMCALL status codes (returned in R10), from arch/x86/include/asm/shared/tdx.h. */
export const TDVMCALL_STATUS = {
  TDVMCALL_STATUS_SUCCESS: 0x0n,
  TDVMCALL_STATUS_RETRY: 0x1n,
  TDVMCALL_STATUS_INVALID_OPERAND: 0x8000000000000000n,
  TDVMCALL_STATUS_ALIGN_ERROR: 0x8000000000000002n,
  TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED: 0x8000000000000003n,
} as const;
export type TdvmcallStatusName = keyof typeof TDVMCALL_STATUS;
export const tdvmcallStatus = (name: TdvmcallStatusName): U64 => u64(TDVMCALL_STATUS[name]);
export function tdvmcallStatusName(status: U64): string {
  const entry = Object.entries(TDVMCALL_STATUS).find(([, code]) => code === BigInt(status));
  return entry ? entry[0] : status;
}
