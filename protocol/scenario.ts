// The scenario vocabulary: platform, guest (memory, vCPUs, policy, image, per-vCPU workload),
// host (knobs and milestone hooks) and what the user expects. One zod schema validates scenario
// files and gives the TypeScript type, so a malformed scenario is refused with one line naming
// the field and the value: sizes in whole 4K pages, numbers exact (64-bit, at most 2^53 - 1),
// every GPA and range inside guest memory, memory within the platform's address space. The
// published JSON Schema (`cocomem schema`, schema/scenario.schema.json) is generated from it.
// Guest steps and host actions are what the parties execute; a scenario crosses into party
// processes as this plain data.
import { z } from "zod";
import { Platform, sharedBitOf } from "./common.ts";
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

// ---- Numbers: byte counts and addresses ----------------------------------------------------

const PAGE = 0x1000;
const SIZE_UNITS: Record<string, bigint> = { K: 1n << 10n, M: 1n << 20n, G: 1n << 30n, T: 1n << 40n };
const SIZE_TEXT = /^(0x[0-9a-fA-F]+|\d+[KMGT]?)$/;
/** A scenario number is a u64 in the real interfaces (a GPA, a length)... */
const U64_END = 1n << 64n;
/**
 * ...but a JavaScript number, exact only up to 2^53 - 1. Nothing a scenario can name comes near
 * it (guest memory ends at 2^47 on TDX and 2^40 on pKVM), so a value past it is refused rather
 * than silently rounded.
 */
const EXACT_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The highest guest memory a TD can have: the model's VMM creates every TD with GPAW 48
 * (KVM_TDX_INIT_VM), so the shared bit is bit 47 and private GPAs are [0, 2^47).
 */
export const TDX_GUEST_MEMORY_MAX = sharedBitOf(48);
/**
 * The highest guest memory a pKVM VM can have: the model's VMM creates the VM with type 0, the
 * default 40-bit IPA size (KVM_PHYS_SHIFT; Documentation/virt/kvm/api.rst, KVM_CREATE_VM).
 */
export const PKVM_GUEST_MEMORY_MAX = 2 ** 40;
/**
 * The most vCPUs a scenario may have: arm64 KVM's KVM_MAX_VCPUS (VGIC_V3_MAX_CPUS, 512), under
 * x86's KVM_MAX_VCPUS (4096) and the TDX module's MAX_VCPUS_PER_TD. The model runs that many
 * (a TD's teardown kicks every vCPU per page, so the time grows with vCPUs x pages).
 */
export const MAX_VCPUS = 512;

/** How a value was written, for a message: strings quoted, as in the file. */
const shown = (value: unknown): string => {
  const text =
    typeof value === "string"
      ? JSON.stringify(value)
      : Array.isArray(value)
        ? "an array"
        : value !== null && typeof value === "object"
          ? "an object"
          : String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
};
const hex = (n: number): string => `0x${n.toString(16)}`;
/** 0x800000 (8M): hex, with the unit form when it is a whole number of K, M, G or T. */
export function formatBytes(n: number): string {
  for (const [unit, size] of [
    ["T", 2 ** 40],
    ["G", 2 ** 30],
    ["M", 2 ** 20],
    ["K", 2 ** 10],
  ] as const)
    if (n >= size && n % size === 0) return `${hex(n)} (${n / size}${unit})`;
  return hex(n);
}

/** A byte count or address as a number, or why it is not one. */
export function parseSize(value: number | string): { value: number } | { error: string } {
  let big: bigint;
  if (typeof value === "number") {
    if (!Number.isInteger(value)) return { error: `${shown(value)} is not a whole number of bytes` };
    if (value < 0) return { error: `${shown(value)} is negative` };
    big = BigInt(value);
  } else {
    if (!SIZE_TEXT.test(value))
      return {
        error: `${shown(value)} is not a size: write a number, "0x1000", or a count of K, M, G or T ("4K", "2M")`,
      };
    const unit = SIZE_UNITS[value.slice(-1)];
    big = value.startsWith("0x") ? BigInt(value) : unit ? BigInt(value.slice(0, -1)) * unit : BigInt(value);
  }
  if (big >= U64_END) return { error: `${shown(value)} is beyond 64 bits` };
  if (big > EXACT_MAX)
    return {
      error: `${shown(value)} is beyond 2^53 - 1, the largest number the model holds exactly (no GPA or size comes near it)`,
    };
  return { value: Number(big) };
}

type SizeKind = "address" | "page-address" | "pages";
const KIND_RULE: Record<SizeKind, { check?: (n: number) => string | undefined; description: string }> = {
  address: { description: "a byte address" },
  "page-address": {
    check: (n) => (n % PAGE === 0 ? undefined : "is not 4K-aligned: a range starts on a page boundary"),
    description: "a 4K-aligned address",
  },
  pages: {
    check: (n) =>
      n === 0
        ? "is empty: give at least one 4K page"
        : n % PAGE === 0
          ? undefined
          : "is not a whole number of 4K pages",
    description: "a whole number of 4K pages, at least one",
  },
};

/**
 * A number, or a string "0x..." or "<n>[KMGT]", read exactly (as a 64-bit value) whatever the
 * notation, and refused past 2^53 - 1. `kind` adds page granularity: the model works on 4K
 * pages, so sizes and range starts must be whole pages (it does not round).
 */
function sizeSchema(kind: SizeKind, note = "") {
  const rule = KIND_RULE[kind];
  return z
    .union(
      [
        z.number().meta({
          type: "integer",
          minimum: kind === "pages" ? PAGE : 0,
          maximum: Number.MAX_SAFE_INTEGER,
          ...(kind === "address" ? {} : { multipleOf: PAGE }),
        }),
        z.string().meta({ pattern: SIZE_TEXT.source }),
      ],
      {
        error: (issue) =>
          `${issue.input === undefined ? "missing" : `${shown(issue.input)} is not a size`}: a number or a string like "0x1000", "4K", "2M"`,
      },
    )
    .transform((value, ctx): number => {
      const parsed = parseSize(value);
      const problem = "error" in parsed ? parsed.error : rule.check?.(parsed.value);
      if (problem === undefined && "value" in parsed) return parsed.value;
      const message =
        "error" in parsed
          ? parsed.error
          : `${shown(value)}${typeof value === "string" ? ` (${hex(parsed.value)})` : ""} ${problem}${note}`;
      ctx.addIssue({ code: "custom", message, input: value });
      return z.NEVER;
    })
    .describe(`${rule.description}: a number, "0x..." or a count of K, M, G or T ("4K", "2M")`);
}

/** A byte count or address: a number, "0x..." or "2M" / "4K" / "1G" / "1T" (at most 2^53 - 1). */
export const Size = sizeSchema("address").meta({ id: "Address" });
/** The start of a range: a 4K-aligned address. */
export const PageAddress = sizeSchema("page-address").meta({ id: "PageAddress" });
/** The length of a range: a whole number of 4K pages. */
export const PageCount = sizeSchema("pages").meta({ id: "PageCount" });
const ACCEPT_NOTE =
  " (the model does not round; Linux's accept_memory() would round the range out to whole 2M units)";

const PageLevel = z.enum(["4K", "2M"]);
/** Which alias a guest access goes through: its own view of the page, or the other one. */
const Alias = z
  .enum(["own", "other"])
  .describe(
    "own: the page's own view (its page-table mapping); other: the other alias (shared for private, and back)",
  );

/** A POST code: what an OUT to port 0x80 (TDX) or an MMIO store (pKVM) carries, up to 32 bits. */
const PostValue = z.number().int().nonnegative().max(0xffffffff).describe("a POST code, 0 to 0xffffffff");

export const GuestStep = z
  .discriminatedUnion("op", [
    z
      .strictObject({
        op: z.literal("accept"),
        gpa: sizeSchema("page-address", ACCEPT_NOTE),
        size: sizeSchema("pages", ACCEPT_NOTE),
        level: PageLevel.default("2M").describe("the largest page size tried (1G is not modelled)"),
      })
      .describe(
        "accept_memory(): TDG.MEM.PAGE.ACCEPT over [gpa, gpa + size), the largest size up to `level` that fits, falling back on any failure (pKVM: nothing to accept)",
      ),
    z
      .strictObject({
        op: z.literal("write"),
        gpa: Size,
        tag: z.string().describe("a label for what is written, followed through the log"),
        secret: z
          .boolean()
          .default(false)
          .describe("whether the host must never see it (the confidentiality monitor)"),
        alias: Alias.default("own"),
      })
      .describe("a store to the page holding `gpa`"),
    z
      .strictObject({ op: z.literal("read"), gpa: Size, alias: Alias.default("own") })
      .describe("a load from the page holding `gpa`"),
    z
      .strictObject({
        op: z.literal("convert"),
        gpa: PageAddress,
        size: PageCount,
        to: z.enum(["shared", "private"]).describe("the view the range ends in"),
      })
      .describe(
        "set_memory_decrypted() / set_memory_encrypted() in Linux's order (to private: MapGPA, accept, then the PTEs; pKVM: MEM_SHARE / MEM_UNSHARE per page)",
      ),
    /**
     * Take a request from a shared page and act on it. Linux copies it into a private bounce page
     * first and checks and uses the copy; the naive guest checks and then uses the shared page
     * itself, so the host can change it in between (a double fetch).
     */
    z
      .strictObject({
        op: z.literal("consume"),
        gpa: Size.describe("the shared page holding the request"),
        bounce: Size.describe("the private page Linux copies it to first"),
      })
      .describe(
        "take a request from a shared page: Linux copies it to a private bounce page and uses the copy; the naive guest uses the shared page (a double fetch)",
      ),
    /** free_pages(): hand pages back to the page allocator (init_on_free zeroes them here). */
    z
      .strictObject({ op: z.literal("free"), gpa: PageAddress, size: PageCount })
      .describe("free_pages(): back to the allocator, zeroed here with init_on_free"),
    /**
     * alloc_pages(): take pages from the allocator; post_alloc_hook() zeroes them when init_on_alloc
     * is on or the caller passed __GFP_ZERO, unless init_on_free already did (mm/page_alloc.c).
     */
    z
      .strictObject({
        op: z.literal("alloc"),
        gpa: PageAddress,
        size: PageCount,
        gfpZero: z.boolean().default(false).describe("the caller passes __GFP_ZERO"),
      })
      .describe("alloc_pages(): zeroed with init_on_alloc or __GFP_ZERO, unless init_on_free did it"),
    /**
     * dma_alloc_coherent() -> dma_direct_alloc() (kernel/dma/direct.c): alloc without __GFP_ZERO,
     * share the pages if the arch forces DMA unencrypted (x86 TDX guests: yes; arm64 pKVM guests:
     * no, force_dma_unencrypted() is is_realm_world()), and only then memset them to 0.
     */
    z
      .strictObject({ op: z.literal("dma-alloc"), gpa: PageAddress, size: PageCount })
      .describe(
        "dma_alloc_coherent(): alloc, share if the arch forces DMA unencrypted (TDX yes, pKVM no), then memset(0)",
      ),
    /** memset(0) over a range, through the pages' own alias. */
    z
      .strictObject({ op: z.literal("zero"), gpa: PageAddress, size: PageCount })
      .describe("memset(0) over the range, through the pages' own alias"),
    /** A POST code on port 0x80: a milestone host hooks can react to. */
    z
      .strictObject({ op: z.literal("post"), value: PostValue })
      .describe("a POST code (OUT to port 0x80; an MMIO store on pKVM): a milestone `host.onPost` reacts to"),
  ])
  .meta({ id: "GuestStep", description: "one guest kernel step, by `op`" });
export type GuestStep = z.infer<typeof GuestStep>;
/** A step as a scenario author writes it (sizes may be strings like "2M"). */
export type GuestStepInput = z.input<typeof GuestStep>;

export const HostAction = z
  .discriminatedUnion("op", [
    z
      .strictObject({ op: z.literal("punch-hole"), gpa: PageAddress, size: PageCount })
      .describe("fallocate(PUNCH_HOLE) on guest_memfd over the range (pKVM: the same as discard)"),
    z
      .strictObject({
        op: z.literal("set-attributes"),
        gpa: PageAddress,
        size: PageCount,
        private: z.boolean().describe("the attribute set: private, or shared"),
      })
      .describe("KVM_SET_MEMORY_ATTRIBUTES over the range (TDX; ignored on pKVM, which has no attributes)"),
    /** The VMM reads the shared backing of a range (what an honest device model does with I/O buffers). */
    z
      .strictObject({ op: z.literal("read-shared"), gpa: PageAddress, size: PageCount })
      .describe("the VMM reads the shared backing of the range, as a device model reads I/O buffers"),
    /**
     * pKVM: the host kernel (EL1) reads the page backing a GPA, through a kernel mapping (a buggy
     * driver, the linear map) or as a uaccess (copy_from_user() from the VMM's mapping).
     */
    z
      .strictObject({
        op: z.literal("kernel-read"),
        gpa: Size,
        via: z
          .enum(["kernel-mapping", "uaccess"])
          .default("kernel-mapping")
          .describe(
            "kernel-mapping: a buggy driver through the linear map; uaccess: copy_from_user() from the VMM's mapping",
          ),
      })
      .describe(
        "the host kernel reads the page backing `gpa` (pKVM: EL1, `via` a kernel mapping or a uaccess; TDX: the private frame, ciphertext or #MC with hostReadMachineChecks)",
      ),
    /** pKVM: the VMM drops guest memory (madvise on pinned memory, PUNCH_HOLE on guest_memfd). */
    z
      .strictObject({ op: z.literal("discard"), gpa: PageAddress, size: PageCount })
      .describe(
        "the VMM drops guest memory (pKVM: madvise(MADV_DONTNEED) when pinned, PUNCH_HOLE with gmem; TDX: as punch-hole)",
      ),
    /** The VMM deletes the memslot holding a GPA while vCPUs run (KVM zaps its mappings). */
    z
      .strictObject({ op: z.literal("delete-memslot"), gpa: Size })
      .describe("the VMM deletes the memslot holding `gpa` while vCPUs run (KVM zaps its mappings)"),
    /** The VMM adds a memslot while vCPUs run; without guest_memfd it can back shared memory only. */
    z
      .strictObject({
        op: z.literal("add-memslot"),
        gpa: PageAddress,
        size: PageCount,
        guestMemfd: z
          .boolean()
          .default(true)
          .describe(
            "bind the slot to the guest_memfd (offset = gpa); without it the slot backs shared memory only",
          ),
      })
      .describe("the VMM adds a memslot for the range while vCPUs run"),
    /** pKVM: the host asks EL2 to write-protect (unmap) a guest page. */
    z
      .strictObject({ op: z.literal("unmap"), gpa: Size })
      .describe(
        "pKVM: the host asks EL2 to write-protect (unmap) the guest page holding `gpa` (TDX has no such request: nothing)",
      ),
  ])
  .meta({ id: "HostAction", description: "one VMM or host-kernel action, by `op`" });
export type HostAction = z.infer<typeof HostAction>;

export const GuestKernelConfig = z
  .strictObject({
    /** init_on_alloc=1 (CONFIG_INIT_ON_ALLOC_DEFAULT_ON): the page allocator zeroes every page it hands out. */
    init_on_alloc: z
      .boolean()
      .default(false)
      .describe("init_on_alloc=1: the page allocator zeroes every page it hands out"),
    /** init_on_free=1 (CONFIG_INIT_ON_FREE_DEFAULT_ON): pages are zeroed when freed (and not again on alloc). */
    init_on_free: z
      .boolean()
      .default(false)
      .describe("init_on_free=1: pages are zeroed when freed (and not again on alloc)"),
  })
  .describe("guest kernel command-line knobs that decide who zeroes (mm/page_alloc.c)");
export type GuestKernelConfig = z.infer<typeof GuestKernelConfig>;

const Expectation = z
  .strictObject({
    outcome: Outcome.describe("how the run ends"),
    /** Invariants expected to be reported (empty: none). */
    violations: z
      .array(z.string())
      .default([])
      .describe("the invariants the monitors are expected to report (empty: none)"),
  })
  .meta({ id: "Expectation", description: "what the run should end in" });
export type Expectation = z.infer<typeof Expectation>;

const ScenarioObject = z.strictObject({
  /** Lets an editor find this schema (`"$schema": "schema/scenario.schema.json"`); ignored. */
  $schema: z.string().optional().describe("where an editor finds this schema; ignored by cocomem"),
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9/_-]*$/, "lower-case words separated by - or /")
    .describe("lower-case words separated by - or /, e.g. my/leak-check"),
  description: z.string().describe("one or two sentences: what the scenario shows"),
  platform: Platform.describe("tdx: Intel TDX module + KVM; pkvm: protected KVM on arm64"),
  /** The versions of the real systems to follow (see protocol/profiles.ts); default per platform. */
  profile: ProfileName.optional().describe(
    "the versions of the real systems to follow (`cocomem describe`); default per platform (TDX tdx-1.5+linux-7.0, pKVM android16-6.12)",
  ),
  guest: z
    .strictObject({
      memory: PageCount.describe(
        `guest RAM at GPA 0, whole 4K pages; at most 2^47 (128T) on TDX (below the shared bit at GPAW 48) and 2^40 (1T) on pKVM (the default 40-bit IPA space)`,
      ),
      vcpus: z
        .number()
        .int()
        .min(1)
        .max(MAX_VCPUS)
        .default(1)
        .describe(`vCPUs, 1 to ${MAX_VCPUS}; \`workload\` has one list of steps per vCPU`),
      policy: GuestPolicyName.default("linux").describe(
        "linux: the Linux guest kernel's checks and order; naive: a guest that trusts the host",
      ),
      /** Guest kernel command line / config knobs that decide who zeroes (mm/page_alloc.c). */
      kernel: GuestKernelConfig.default({ init_on_alloc: false, init_on_free: false }),
      /** Initial image pages (4K each) loaded at GPA 0 by INIT_MEM_REGION. */
      image: z
        .strictObject({
          pages: z.array(z.string()).min(1).describe("one tag per 4K page, loaded from GPA 0 up"),
          measure: z.boolean().default(true).describe("extend the measurement (MRTD) with each page"),
        })
        .optional()
        .describe("initial image pages loaded at GPA 0 before the guest runs (TDX: KVM_TDX_INIT_MEM_REGION)"),
      workload: z
        .array(z.array(GuestStep).describe("one vCPU's steps, in order"))
        .min(1)
        .describe("one list of steps per vCPU ([] for a vCPU with nothing to do)"),
    })
    .describe("the guest: its memory, vCPUs, kernel and what each vCPU does"),
  host: z
    .strictObject({
      /** Upstream KVM maps private memory at 4K; 2M is RFC work. */
      privateLevel: PageLevel.default("4K").describe(
        "TDX: the size KVM maps private memory at (upstream 4K; 2M is the huge-page RFC)",
      ),
      septVeDisable: z
        .boolean()
        .default(true)
        .describe(
          "TDX: TD attribute SEPT_VE_DISABLE (a pending-page access exits to the host instead of a #VE)",
        ),
      /** TDX: a KVM that sets CONFIG_FLAGS.FLEXIBLE_PENDING_VE (upstream never does), so the guest sets TD_CTLS itself. */
      flexiblePendingVe: z
        .boolean()
        .default(false)
        .describe(
          "TDX: KVM sets CONFIG_FLAGS.FLEXIBLE_PENDING_VE (upstream never does), so the guest sets TD_CTLS itself",
        ),
      /** TDX: the VMM gives up after building the TD and destroys it before KVM_TDX_FINALIZE_VM. */
      stopBeforeFinalize: z
        .boolean()
        .default(false)
        .describe("TDX: the VMM builds the TD and destroys it before KVM_TDX_FINALIZE_VM"),
      /** TDX: a host read of a private line machine-checks the host (integrity in Ci mode). */
      hostReadMachineChecks: z
        .boolean()
        .default(false)
        .describe(
          "TDX: a host read of a private line machine-checks the host (instead of returning ciphertext)",
        ),
      /**
       * TDX: the part has X86_BUG_TDX_PW_MCE (Sapphire and Emerald Rapids): a partial write to a
       * private line poisons it, so KVM clears every page it takes back (tdx_quirk_reset_page()).
       * Without it the host's stores just overwrite, and KVM clears nothing.
       */
      partialWriteErratum: z
        .boolean()
        .default(true)
        .describe(
          "TDX: the CPU has X86_BUG_TDX_PW_MCE (a partial write poisons a private line), so KVM clears every page it takes back",
        ),
      /** pKVM host: pinned anonymous memory (upstream) or guest_memfd with in-place sharing (2026 proposal). */
      variant: z
        .enum(["pinned", "gmem"])
        .default("pinned")
        .describe(
          "pKVM: guest RAM in pinned anonymous memory (upstream), or guest_memfd with in-place sharing (2026 proposal)",
        ),
      /** Actions the VMM takes when the guest writes a POST code. */
      onPost: z
        .array(
          z
            .strictObject({
              value: PostValue.describe("the POST code that triggers these actions"),
              do: z.array(HostAction).describe("the actions, in order"),
            })
            .describe("what the host does when the guest posts `value`"),
        )
        .default([])
        .describe("what the host does at the guest's milestones"),
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
    })
    .describe("the host: KVM and VMM knobs, and its actions on the guest's milestones"),
  expect: Expectation,
  /** What to expect when the run overrides the guest policy (`--guest-policy`). */
  expectWithPolicy: z
    .partialRecord(GuestPolicyName, Expectation)
    .default({})
    .describe("what to expect when `--guest-policy` overrides the guest policy, per policy"),
  /** What to expect when the run overrides the profile a scenario names (`--profile`). */
  expectWithProfile: z
    .partialRecord(ProfileName, Expectation)
    .default({})
    .describe("what to expect when `--profile` overrides the scenario's profile, per profile"),
});

type ParsedScenario = z.output<typeof ScenarioObject>;
type Path = (string | number)[];

/** The checks that need more than one field: the platform's address space, guest memory, vCPUs. */
function checkWhole(spec: ParsedScenario, ctx: z.RefinementCtx): void {
  const issue = (path: Path, message: string) => ctx.addIssue({ code: "custom", path, message });
  if (spec.profile !== undefined && PROFILES[spec.profile].platform !== spec.platform) {
    const known = profilesOf(spec.platform).map((p) => p.name);
    issue(
      ["profile"],
      `${spec.profile} is a ${PROFILES[spec.profile].platform} profile; ${spec.platform} has ${known.join(", ")}`,
    );
  }
  const { memory, vcpus, workload, image } = spec.guest;
  const max = spec.platform === "tdx" ? TDX_GUEST_MEMORY_MAX : PKVM_GUEST_MEMORY_MAX;
  if (memory > max) {
    const why =
      spec.platform === "tdx"
        ? "a TD's private GPAs end at the shared bit, bit 47 with the GPAW 48 the VMM asks for"
        : "the VM's IPA space is the default 40 bits the VMM asks for (KVM_CREATE_VM type 0)";
    issue(["guest", "memory"], `${formatBytes(memory)} is more than ${formatBytes(max)}: ${why}`);
    return;
  }
  if (workload.length !== vcpus)
    issue(
      ["guest", "workload"],
      `${workload.length} list${workload.length === 1 ? "" : "s"} of steps for ${vcpus} vCPU${vcpus === 1 ? "" : "s"} (guest.vcpus): give one list per vCPU, [] for an idle one`,
    );
  if (image && image.pages.length * PAGE > memory)
    issue(
      ["guest", "image", "pages"],
      `${image.pages.length} pages (${hex(image.pages.length * PAGE)}) do not fit in guest memory [0, ${hex(memory)})`,
    );
  const inside = (path: Path, at: { gpa: number; size?: number; bounce?: number }) => {
    const memoryText = `guest memory [0, ${hex(memory)})`;
    if (at.gpa >= memory) return issue([...path, "gpa"], `${hex(at.gpa)} is outside ${memoryText}`);
    if (at.size !== undefined && at.gpa + at.size > memory)
      issue([...path, "size"], `${hex(at.size)} from ${hex(at.gpa)} runs past the end of ${memoryText}`);
    if (at.bounce !== undefined && at.bounce >= memory)
      issue([...path, "bounce"], `${hex(at.bounce)} is outside ${memoryText}`);
  };
  workload.forEach((steps, vcpu) => {
    steps.forEach((step, i) => {
      if ("gpa" in step) inside(["guest", "workload", vcpu, i], step);
    });
  });
  spec.host.onPost.forEach((hook, h) => {
    hook.do.forEach((action, i) => {
      inside(["host", "onPost", h, "do", i], action);
    });
  });
}

export const ScenarioSpec = ScenarioObject.superRefine(checkWhole);
export type ScenarioSpec = z.infer<typeof ScenarioSpec>;
export type ScenarioInput = z.input<typeof ScenarioSpec>;

// ---- Reading a scenario, with one line per problem ------------------------------------------

/** `guest.workload[0][3].gpa`: a path as one would write it in JavaScript. */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = "";
  for (const key of path) {
    if (typeof key === "number") text += `[${key}]`;
    else text += text === "" ? String(key) : `.${String(key)}`;
  }
  return text === "" ? "(top level)" : text;
}

/** One issue as one line: the field's path, the value as written, what is wrong with it. */
export function describeIssue(issue: z.core.$ZodIssue): string {
  const where = formatPath(issue.path);
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case "custom":
      return `${where}: ${issue.message}`;
    case "unrecognized_keys":
      return `${where}: unknown field${issue.keys.length === 1 ? "" : "s"} ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
    case "invalid_union":
      if ("discriminator" in issue && typeof issue.discriminator === "string") {
        const options = (issue as { options?: unknown[] }).options ?? [];
        const value =
          input !== null && typeof input === "object"
            ? (input as Record<string, unknown>)[issue.discriminator]
            : undefined;
        return `${where}: ${value === undefined ? "missing" : shown(value)} is not one of ${options.join(", ")}`;
      }
      return `${where}: ${issue.message}`;
    case "invalid_type":
      if (input === undefined) return `${where}: missing (${issue.expected})`;
      return `${where}: ${shown(input)} is not a${/^[aeiou]/.test(issue.expected) ? "n" : ""} ${issue.expected}`;
    default:
      return input === undefined || typeof input === "object"
        ? `${where}: ${issue.message}`
        : `${where}: ${shown(input)}: ${issue.message}`;
  }
}

/** Validate data as a scenario: the parsed spec, or one line naming the field and the value. */
/**
 * The JSON Schema of a scenario file (draft 2020-12), generated from these zod definitions: what
 * a file may contain as written (sizes as numbers or strings, defaults optional). The checks that
 * need several fields (ranges inside guest memory, memory within the platform's address space,
 * one list of steps per vCPU) are in the descriptions; `cocomem run` applies them.
 */
export function scenarioJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(ScenarioSpec, { io: "input", target: "draft-2020-12" });
  return {
    $schema: schema.$schema,
    title: "cocomem scenario",
    description:
      "A cocomem scenario: the platform, the guest (memory, vCPUs, policy, image, one list of steps per vCPU), the host (knobs and actions on the guest's milestones) and what to expect. `cocomem run FILE` also checks what a schema cannot: every GPA and range inside guest memory, memory within the platform's address space, one list of steps per vCPU.",
    ...Object.fromEntries(Object.entries(schema).filter(([key]) => key !== "$schema")),
  };
}

export function parseScenario(
  data: unknown,
): { ok: true; spec: ScenarioSpec } | { ok: false; error: string } {
  const parsed = ScenarioSpec.safeParse(data, { reportInput: true });
  if (parsed.success) return { ok: true, spec: parsed.data };
  const first = parsed.error.issues[0];
  return { ok: false, error: first ? describeIssue(first) : "invalid" };
}
