// Return codes as the kernels return them: Linux errnos, negated (include/uapi/asm-generic/
// errno-base.h, errno.h), and the SMCCC return values a guest's hypervisor call gets in x0
// (include/linux/arm-smccc.h).
export const EPERM = -1;
export const ENOENT = -2;
export const EINTR = -4;
export const EIO = -5;
export const E2BIG = -7;
export const EBADF = -9;
export const EAGAIN = -11;
export const ENOMEM = -12;
export const EFAULT = -14;
export const EBUSY = -16;
export const EEXIST = -17;
export const EINVAL = -22;
export const EOPNOTSUPP = -95;
export const EHWPOISON = -133;

const NAMES: Readonly<Record<number, string>> = {
  [EPERM]: "EPERM",
  [ENOENT]: "ENOENT",
  [EINTR]: "EINTR",
  [EIO]: "EIO",
  [E2BIG]: "E2BIG",
  [EBADF]: "EBADF",
  [EAGAIN]: "EAGAIN",
  [ENOMEM]: "ENOMEM",
  [EFAULT]: "EFAULT",
  [EBUSY]: "EBUSY",
  [EEXIST]: "EEXIST",
  [EINVAL]: "EINVAL",
  [EOPNOTSUPP]: "EOPNOTSUPP",
  [EHWPOISON]: "EHWPOISON",
};

/** `-EPERM` for -1; the number itself when it is not an errno this model returns. */
export const errnoName = (ret: number): string => (NAMES[ret] ? `-${NAMES[ret]}` : String(ret));

export const SMCCC_RET_SUCCESS = 0;
export const SMCCC_RET_NOT_SUPPORTED = -1;
export const SMCCC_RET_INVALID_PARAMETER = -3;

const SMCCC_NAMES: Record<number, string> = {
  [SMCCC_RET_SUCCESS]: "SMCCC_RET_SUCCESS",
  [SMCCC_RET_NOT_SUPPORTED]: "SMCCC_RET_NOT_SUPPORTED",
  [SMCCC_RET_INVALID_PARAMETER]: "SMCCC_RET_INVALID_PARAMETER",
};

/** `SMCCC_RET_INVALID_PARAMETER (-3)` for an SMCCC return value in x0. */
export const smcccName = (x0: number): string => `${SMCCC_NAMES[x0] ?? "unknown SMCCC status"} (${x0})`;
