// The scenario vocabulary: platform, guest (memory, vCPUs, policy, image, per-vCPU workload),
// host (knobs and milestone hooks) and what the user expects. One zod schema validates scenario
// files and gives the TypeScript type, so a malformed scenario is refused with a clear message.
// Guest steps and host actions are what the parties execute; a scenario crosses into party
// processes as this plain data.
import { z } from "zod";
import { Platform } from "./common.ts";
import { Outcome } from "./log.ts";
import { PROFILES, ProfileName, profilesOf } from "./profiles.ts";

export { Platform } from "./common.ts";
export const GuestPolicyName = z.enum(["linux", "naive"]);
export type GuestPolicyName = z.infer<typeof GuestPolicyName>;

/** Deliberately broken trusted entities, to show what the monitors say when the TE fails its duty. */
export interface TrustedMutant {
  /** TDX: TDG.MEM.PAGE.ACCEPT maps without zeroing. pKVM: no hyp_poison_page on reclaim. */
  skipZeroing?: boolean;
}

const SIZE_UNITS: Record<string, number> = { K: 0x400, M: 0x100000, G: 0x40000000, T: 0x10000000000 };

/** A byte count or address: a number, "0x..." or "2M" / "4K" / "1G" / "1T". */
export const Size = z.union([
  z.number().int().nonnegative(),
  z
    .string()
    .regex(/^(0x[0-9a-fA-F]+|\d+[KMGT]?)$/, 'a size like 4096, "0x1000", "4K", "2M", "1G"')
    .transform((text) => {
      if (text.startsWith("0x")) return Number.parseInt(text, 16);
      const unit = SIZE_UNITS[text.slice(-1)];
      return unit ? Number.parseInt(text.slice(0, -1), 10) * unit : Number.parseInt(text, 10);
    }),
]);

const PageLevel = z.enum(["4K", "2M"]);
/** Which alias a guest access goes through: its own view of the page, or the other one. */
const Alias = z.enum(["own", "other"]);

export const GuestStep = z.discriminatedUnion("op", [
  z.strictObject({ op: z.literal("accept"), gpa: Size, size: Size, level: PageLevel.default("2M") }),
  z.strictObject({
    op: z.literal("write"),
    gpa: Size,
    tag: z.string(),
    secret: z.boolean().default(false),
    alias: Alias.default("own"),
  }),
  z.strictObject({ op: z.literal("read"), gpa: Size, alias: Alias.default("own") }),
  z.strictObject({ op: z.literal("convert"), gpa: Size, size: Size, to: z.enum(["shared", "private"]) }),
  /**
   * Take a request from a shared page and act on it. Linux copies it into a private bounce page
   * first and checks and uses the copy; the naive guest checks and then uses the shared page
   * itself, so the host can change it in between (a double fetch).
   */
  z.strictObject({ op: z.literal("consume"), gpa: Size, bounce: Size }),
  /** free_pages(): hand pages back to the page allocator (init_on_free zeroes them here). */
  z.strictObject({ op: z.literal("free"), gpa: Size, size: Size }),
  /**
   * alloc_pages(): take pages from the allocator; post_alloc_hook() zeroes them when init_on_alloc
   * is on or the caller passed __GFP_ZERO, unless init_on_free already did (mm/page_alloc.c).
   */
  z.strictObject({ op: z.literal("alloc"), gpa: Size, size: Size, gfpZero: z.boolean().default(false) }),
  /**
   * dma_alloc_coherent() -> dma_direct_alloc() (kernel/dma/direct.c): alloc without __GFP_ZERO,
   * share the pages if the arch forces DMA unencrypted (x86 TDX guests: yes; arm64 pKVM guests:
   * no, force_dma_unencrypted() is is_realm_world()), and only then memset them to 0.
   */
  z.strictObject({ op: z.literal("dma-alloc"), gpa: Size, size: Size }),
  /** memset(0) over a range, through the pages' own alias. */
  z.strictObject({ op: z.literal("zero"), gpa: Size, size: Size }),
  /** A POST code on port 0x80: a milestone host hooks can react to. */
  z.strictObject({ op: z.literal("post"), value: z.number().int().nonnegative() }),
]);
export type GuestStep = z.infer<typeof GuestStep>;
/** A step as a scenario author writes it (sizes may be strings like "2M"). */
export type GuestStepInput = z.input<typeof GuestStep>;

export const HostAction = z.discriminatedUnion("op", [
  z.strictObject({ op: z.literal("punch-hole"), gpa: Size, size: Size }),
  z.strictObject({ op: z.literal("set-attributes"), gpa: Size, size: Size, private: z.boolean() }),
  /** The VMM reads the shared backing of a range (what an honest device model does with I/O buffers). */
  z.strictObject({ op: z.literal("read-shared"), gpa: Size, size: Size }),
  /**
   * pKVM: the host kernel (EL1) reads the page backing a GPA, through a kernel mapping (a buggy
   * driver, the linear map) or as a uaccess (copy_from_user() from the VMM's mapping).
   */
  z.strictObject({
    op: z.literal("kernel-read"),
    gpa: Size,
    via: z.enum(["kernel-mapping", "uaccess"]).default("kernel-mapping"),
  }),
  /** pKVM: the VMM drops guest memory (madvise on pinned memory, PUNCH_HOLE on guest_memfd). */
  z.strictObject({ op: z.literal("discard"), gpa: Size, size: Size }),
  /** The VMM deletes the memslot holding a GPA while vCPUs run (KVM zaps its mappings). */
  z.strictObject({ op: z.literal("delete-memslot"), gpa: Size }),
  /** The VMM adds a memslot while vCPUs run; without guest_memfd it can back shared memory only. */
  z.strictObject({
    op: z.literal("add-memslot"),
    gpa: Size,
    size: Size,
    guestMemfd: z.boolean().default(true),
  }),
  /** pKVM: the host asks EL2 to write-protect (unmap) a guest page. */
  z.strictObject({ op: z.literal("unmap"), gpa: Size }),
]);
export type HostAction = z.infer<typeof HostAction>;

export const GuestKernelConfig = z.strictObject({
  /** init_on_alloc=1 (CONFIG_INIT_ON_ALLOC_DEFAULT_ON): the page allocator zeroes every page it hands out. */
  init_on_alloc: z.boolean().default(false),
  /** init_on_free=1 (CONFIG_INIT_ON_FREE_DEFAULT_ON): pages are zeroed when freed (and not again on alloc). */
  init_on_free: z.boolean().default(false),
});
export type GuestKernelConfig = z.infer<typeof GuestKernelConfig>;

const Expectation = z.strictObject({
  outcome: Outcome,
  /** Invariants expected to be reported (empty: none). */
  violations: z.array(z.string()).default([]),
});
export type Expectation = z.infer<typeof Expectation>;

export const ScenarioSpec = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9/_-]*$/, "lower-case words separated by - or /"),
    description: z.string(),
    platform: Platform,
    /** The versions of the real systems to follow (see protocol/profiles.ts); default per platform. */
    profile: ProfileName.optional(),
    guest: z.strictObject({
      memory: Size,
      vcpus: z.number().int().min(1).max(64).default(1),
      policy: GuestPolicyName.default("linux"),
      /** Guest kernel command line / config knobs that decide who zeroes (mm/page_alloc.c). */
      kernel: GuestKernelConfig.default({ init_on_alloc: false, init_on_free: false }),
      /** Initial image pages (4K each) loaded at GPA 0 by INIT_MEM_REGION. */
      image: z
        .strictObject({ pages: z.array(z.string()).min(1), measure: z.boolean().default(true) })
        .optional(),
      workload: z.array(z.array(GuestStep)).min(1),
    }),
    host: z
      .strictObject({
        /** Upstream KVM maps private memory at 4K; 2M is RFC work. */
        privateLevel: PageLevel.default("4K"),
        septVeDisable: z.boolean().default(true),
        /** TDX: a KVM that sets CONFIG_FLAGS.FLEXIBLE_PENDING_VE (upstream never does), so the guest sets TD_CTLS itself. */
        flexiblePendingVe: z.boolean().default(false),
        /** TDX: the VMM gives up after building the TD and destroys it before KVM_TDX_FINALIZE_VM. */
        stopBeforeFinalize: z.boolean().default(false),
        /** TDX: a host read of a private line machine-checks the host (integrity in Ci mode). */
        hostReadMachineChecks: z.boolean().default(false),
        /**
         * TDX: the part has X86_BUG_TDX_PW_MCE (Sapphire and Emerald Rapids): a partial write to a
         * private line poisons it, so KVM clears every page it takes back (tdx_quirk_reset_page()).
         * Without it the host's stores just overwrite, and KVM clears nothing.
         */
        partialWriteErratum: z.boolean().default(true),
        /** pKVM host: pinned anonymous memory (upstream) or guest_memfd with in-place sharing (2026 proposal). */
        variant: z.enum(["pinned", "gmem"]).default("pinned"),
        /** Actions the VMM takes when the guest writes a POST code. */
        onPost: z.array(z.strictObject({ value: z.number().int(), do: z.array(HostAction) })).default([]),
      })
      .default({
        privateLevel: "4K",
        septVeDisable: true,
        flexiblePendingVe: false,
        stopBeforeFinalize: false,
        hostReadMachineChecks: false,
        partialWriteErratum: true,
        variant: "pinned",
        onPost: [],
      }),
    expect: Expectation,
    /** What to expect when the run overrides the guest policy (`--guest-policy`). */
    expectWithPolicy: z.partialRecord(GuestPolicyName, Expectation).default({}),
    /** What to expect when the run overrides the profile a scenario names (`--profile`). */
    expectWithProfile: z.partialRecord(ProfileName, Expectation).default({}),
  })
  .superRefine((spec, ctx) => {
    if (spec.profile !== undefined && PROFILES[spec.profile].platform !== spec.platform) {
      ctx.addIssue({
        code: "custom",
        path: ["profile"],
        message: `${spec.profile} is a ${PROFILES[spec.profile].platform} profile; ${spec.platform} has ${profilesOf(
          spec.platform,
        )
          .map((p) => p.name)
          .join(", ")}`,
      });
    }
  });
export type ScenarioSpec = z.infer<typeof ScenarioSpec>;
export type ScenarioInput = z.input<typeof ScenarioSpec>;
