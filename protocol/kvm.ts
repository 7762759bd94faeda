// host/vmm <-> host/kvm: the KVM ioctls and exits a VMM (QEMU) uses for guest private memory
// (include/uapi/linux/kvm.h, virt/kvm/guest_memfd.c, arch/x86/kvm/vmx/tdx.c). The VM fd and vCPU fds
// are implicit: one VM per run.
import { z } from "zod";
import { Addr, Content, GpaWidth, VcpuId } from "./common.ts";
import { call } from "./define.ts";

/** KVM_SET_MEMORY_ATTRIBUTES: the GFN is private, backed by guest_memfd (include/uapi/linux/kvm.h). */
export const KVM_MEMORY_ATTRIBUTE_PRIVATE = 1 << 3;
/** fallocate modes (include/uapi/linux/falloc.h). */
export const FALLOC_FL_KEEP_SIZE = 0x1;
export const FALLOC_FL_PUNCH_HOLE = 0x2;
/** What a VMM passes to free guest_memfd pages: PUNCH_HOLE | KEEP_SIZE. */
export const FALLOC_PUNCH_HOLE = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
/** KVM_SET_USER_MEMORY_REGION2 flag: the slot's private memory comes from a guest_memfd. */
export const KVM_MEM_GUEST_MEMFD = 1 << 2;
/** The hypercall KVM forwards to userspace for a TDX MapGPA (KVM_HC_MAP_GPA_RANGE). */
export const KVM_HC_MAP_GPA_RANGE = 12;

/** Return value of an ioctl: 0, or a negative errno. */
const Ret = { ret: z.number().int() };

/** How KVM_RUN returned to userspace (struct kvm_run exit_reason). */
export const KvmExit = z.discriminatedUnion("exit_reason", [
  /** KVM_EXIT_HYPERCALL (3) with nr KVM_HC_MAP_GPA_RANGE (12): args = [gpa, npages, attrs]. */
  z.strictObject({
    exit_reason: z.literal("KVM_EXIT_HYPERCALL"),
    nr: z.literal(12),
    gpa: Addr,
    npages: z.number().int().positive(),
    encrypted: z.boolean(),
  }),
  /** KVM_EXIT_MEMORY_FAULT (39): access kind does not match the GFN's attribute. */
  z.strictObject({
    exit_reason: z.literal("KVM_EXIT_MEMORY_FAULT"),
    gpa: Addr,
    size: Addr,
    private: z.boolean(),
  }),
  z.strictObject({ exit_reason: z.literal("KVM_EXIT_HLT") }),
  /** KVM_EXIT_MMIO (6): a store to an emulated device (the POST device on arm64). */
  z.strictObject({ exit_reason: z.literal("KVM_EXIT_MMIO"), value: z.number().int() }),
  /** KVM_EXIT_IO (2): an OUT the VMM emulates (port 0x80 POST codes mark workload milestones). */
  z.strictObject({ exit_reason: z.literal("KVM_EXIT_IO"), port: z.number().int(), value: z.number().int() }),
  /** KVM_EXIT_SYSTEM_EVENT: the guest reported a fatal error, or the TD cannot run any more. */
  z.strictObject({
    exit_reason: z.literal("KVM_EXIT_SYSTEM_EVENT"),
    event: z.enum(["KVM_SYSTEM_EVENT_TDX_FATAL", "KVM_SYSTEM_EVENT_CRASH", "KVM_SYSTEM_EVENT_SHUTDOWN"]),
    detail: z.string(),
  }),
]);
export type KvmExit = z.infer<typeof KvmExit>;

export const kvmCalls = {
  KVM_ENABLE_CAP: call(
    "KVM_ENABLE_CAP",
    "kvm",
    "Enable a VM capability. KVM_CAP_EXIT_HYPERCALL (201): args0 is the mask of hypercalls KVM may forward to userspace (bit 12: KVM_HC_MAP_GPA_RANGE); without it a TD's MapGPA gets SUBFUNC_UNSUPPORTED.",
    { cap: z.literal("KVM_CAP_EXIT_HYPERCALL"), args0: z.number().int().nonnegative() },
    Ret,
  ),
  KVM_TDX_INIT_VM: call(
    "KVM_TDX_INIT_VM",
    "kvm",
    "Create the TD (TDH.MNG.CREATE, KEY.CONFIG, INIT) and its vCPUs (TDH.VP.CREATE).",
    {
      septVeDisable: z.boolean(),
      vcpus: z.number().int().positive(),
      gpaWidth: GpaWidth,
    },
    Ret,
  ),
  KVM_CREATE_VM: call(
    "KVM_CREATE_VM",
    "kvm",
    "arm64: create a VM (KVM_VM_TYPE_ARM_PROTECTED for a protected one) and its vCPUs; pKVM sets up the hyp VM.",
    { protected: z.boolean(), vcpus: z.number().int().positive() },
    Ret,
  ),
  madvise: call(
    "madvise",
    "kvm",
    "The VMM drops guest memory from its mapping (MADV_DONTNEED / MADV_REMOVE): KVM's mmu notifier must unmap it from the guest.",
    { gpa: Addr, size: Addr, advice: z.enum(["MADV_DONTNEED", "MADV_REMOVE"]) },
    Ret,
  ),
  KVM_CREATE_GUEST_MEMFD: call(
    "KVM_CREATE_GUEST_MEMFD",
    "kvm",
    "New guest_memfd of `size` bytes; the memory lives with the file, not the VM.",
    { size: Addr, flags: z.number().int().nonnegative() },
    { ret: z.number().int(), fd: z.number().int().optional() },
  ),
  KVM_SET_USER_MEMORY_REGION2: call(
    "KVM_SET_USER_MEMORY_REGION2",
    "kvm",
    "Create a memslot: a GPA range with a shared (userspace) backing and, with KVM_MEM_GUEST_MEMFD, a guest_memfd range; memory_size 0 deletes the slot (its mappings are zapped).",
    {
      slot: z.number().int().nonnegative(),
      flags: z.number().int().nonnegative(),
      guest_phys_addr: Addr,
      memory_size: Addr,
      guest_memfd: z.number().int(),
      guest_memfd_offset: Addr,
    },
    Ret,
  ),
  KVM_SET_MEMORY_ATTRIBUTES: call(
    "KVM_SET_MEMORY_ATTRIBUTES",
    "kvm",
    "Set KVM_MEMORY_ATTRIBUTE_PRIVATE (1<<3) or 0 over a range; zaps mappings, frees and zeroes nothing.",
    { address: Addr, size: Addr, attributes: z.number().int().nonnegative(), flags: z.number().int() },
    Ret,
  ),
  fallocate: call(
    "fallocate",
    "kvm",
    "fallocate on guest_memfd: PUNCH_HOLE|KEEP_SIZE (3) frees pages and zaps mappings; KEEP_SIZE (1) allocates.",
    { fd: z.number().int(), mode: z.number().int(), offset: Addr, len: Addr },
    Ret,
  ),
  KVM_TDX_INIT_MEM_REGION: call(
    "KVM_TDX_INIT_MEM_REGION",
    "kvm",
    "Build phase: copy source pages into private memory (SEPT.ADD, PAGE.ADD; MR.EXTEND when measured).",
    { gpa: Addr, source: z.array(Content), measure: z.boolean() },
    Ret,
  ),
  KVM_TDX_FINALIZE_VM: call(
    "KVM_TDX_FINALIZE_VM",
    "kvm",
    "TDH.MR.FINALIZE: the TD becomes runnable.",
    {},
    {
      ...Ret,
      mrtd: z.string().optional(),
    },
  ),
  KVM_RUN: call(
    "KVM_RUN",
    "kvm",
    "Run a vCPU until an exit KVM cannot handle in the kernel; carries the last hypercall's result.",
    { vcpu: VcpuId, hypercallRet: z.number().int().optional() },
    { ret: z.number().int(), exit: KvmExit.optional() },
  ),
  KVM_DESTROY_VM: call(
    "KVM_DESTROY_VM",
    "kvm",
    "The VMM closes the VM: KVM tears the TD down (zap, flush, free the key, reclaim).",
    {},
    Ret,
  ),
} as const;
