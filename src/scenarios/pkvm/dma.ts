// The DMA-buffer share window on pKVM. dma_direct_alloc() (kernel/dma/direct.c) allocates without
// __GFP_ZERO, shares the buffer (dma_set_decrypted) and only then clears it (memset): whatever the
// page held before is visible to the host in between, unless the page allocator already zeroed it
// (init_on_alloc=1) or it was zeroed when freed (init_on_free=1). On arm64 dma_direct_alloc() does
// not share for a pKVM guest (force_dma_unencrypted() is is_realm_world()); the same order is
// written out here as a driver does it with set_memory_decrypted(), and `dma-alloc` shows the
// arm64 path.
import type { GuestKernelConfig, GuestStepInput } from "../../../protocol/scenario.ts";
import { type CheckedRun, defineScenario } from "../define.ts";
import { hostReads } from "./scenarios.ts";

const BUFFER = 0x100000;

/** A page used for a secret, freed, reallocated and shared before it is cleared. */
export const reuseForDma: GuestStepInput[] = [
  { op: "write", gpa: BUFFER, tag: "old-secret", secret: true },
  { op: "free", gpa: BUFFER, size: "4K" },
  { op: "alloc", gpa: BUFFER, size: "4K" },
  { op: "convert", gpa: BUFFER, size: "4K", to: "shared" },
  { op: "post", value: 1 },
  { op: "zero", gpa: BUFFER, size: "4K" },
  { op: "post", value: 1 },
];

/** The host reads the buffer at both milestones: after the share, and after the memset. */
const readBuffer = [{ value: 1, do: [{ op: "read-shared" as const, gpa: BUFFER, size: "4K" }] }];

const shareWindow = (name: string, kernel: GuestKernelConfig, what: string, leaks: boolean) =>
  defineScenario(
    {
      name,
      description: `A page that held a secret is freed, reallocated and shared before it is cleared (dma_direct_alloc()'s order: alloc, share, memset). ${what}`,
      platform: "pkvm",
      guest: { memory: "16M", kernel, workload: [reuseForDma] },
      host: { onPost: readBuffer },
      expect: leaks
        ? { outcome: "violation", violations: ["no guest secret reaches the host"] }
        : { outcome: "completed" },
      expectWithPolicy: {
        naive: leaks
          ? { outcome: "violation", violations: ["no guest secret reaches the host"] }
          : { outcome: "completed", violations: [] },
      },
    },
    (run: CheckedRun) => {
      const unmet: string[] = [];
      const seen = hostReads(run).join(",");
      const expected = leaks ? "old-secret,zero" : "zero,zero";
      if (seen !== expected) unmet.push(`host read ${seen}, expected ${expected}`);
      if (run.result.violations.some((v) => v.responsible !== "guest"))
        unmet.push("a leak blamed on another party");
      return unmet;
    },
  );

export const dmaShareWindow = shareWindow(
  "pkvm/dma-share-window",
  { init_on_alloc: false, init_on_free: false },
  "With neither init_on_alloc nor init_on_free the host reads the old secret in the window; the guest is responsible.",
  true,
);

export const dmaShareWindowInitOnAlloc = shareWindow(
  "pkvm/dma-share-window-init-on-alloc",
  { init_on_alloc: true, init_on_free: false },
  "With init_on_alloc=1 post_alloc_hook() zeroes the page as it is allocated: the host reads zero.",
  false,
);

export const dmaShareWindowInitOnFree = shareWindow(
  "pkvm/dma-share-window-init-on-free",
  { init_on_alloc: false, init_on_free: true },
  "With init_on_free=1 (Microdroid's config) the page is zeroed when freed, and not again at allocation: the host reads zero.",
  false,
);

export const dmaAllocNotShared = defineScenario(
  {
    name: "pkvm/dma-alloc-not-shared",
    description:
      "dma_alloc_coherent() in a pKVM guest: arm64's force_dma_unencrypted() is is_realm_world(), so the buffer is never shared (no MEM_SHARE) and the VMM's read of it is a stage-2 abort (SIGSEGV); the old secret stays private.",
    platform: "pkvm",
    guest: {
      memory: "16M",
      workload: [
        [
          { op: "write", gpa: BUFFER, tag: "old-secret", secret: true },
          { op: "free", gpa: BUFFER, size: "4K" },
          { op: "dma-alloc", gpa: BUFFER, size: "4K" },
          { op: "post", value: 1 },
        ],
      ],
    },
    host: { onPost: readBuffer },
    expect: { outcome: "completed" },
    expectWithPolicy: { naive: { outcome: "completed", violations: [] } },
  },
  (run) => {
    const unmet: string[] = [];
    const shares = run.log.filter(
      (l) => l.type === "msg" && l.msg.type === "ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE",
    );
    if (shares.length !== 0) unmet.push(`${shares.length} MEM_SHARE messages, expected none`);
    const segv = run.log.filter(
      (l) => l.type === "effect" && l.effect.e === "fault" && l.effect.kind === "SIGSEGV",
    );
    if (segv.length !== 1) unmet.push(`expected one SIGSEGV in the VMM, saw ${segv.length}`);
    return unmet;
  },
);
