// The guest kernel's page allocator knobs and dma_direct_alloc()'s order, from mm/page_alloc.c
// (post_alloc_hook: init = !want_init_on_free() && want_init_on_alloc(gfp); free_pages_prepare:
// init = want_init_on_free()) and kernel/dma/direct.c (alloc, dma_set_decrypted, memset).
import { describe, expect, it } from "vitest";
import type { LogLine } from "../../protocol/log.ts";
import type { GuestStepInput, Platform } from "../../protocol/scenario.ts";
import { runScenario } from "../../src/run/run.ts";
import { defineScenario } from "../../src/scenarios/define.ts";

const PAGE = 0x200000;

async function run(
  platform: Platform,
  kernel: { init_on_alloc: boolean; init_on_free: boolean },
  steps: GuestStepInput[],
) {
  const prefix: GuestStepInput[] =
    platform === "tdx" ? [{ op: "accept", gpa: PAGE, size: "2M", level: "2M" }] : [];
  const scenario = defineScenario({
    name: "test/allocator",
    description: "",
    platform,
    guest: { memory: "16M", kernel, workload: [[...prefix, ...steps]] },
    expect: { outcome: "completed" },
  });
  return (await runScenario(scenario)).log;
}

/** The guest's own stores of zero, by step marker: which POST code they came after. */
function zeroStoresAfterPost(log: readonly LogLine[]): number[] {
  const zeros: number[] = [];
  let phase = 0;
  for (const line of log) {
    const msg = line.type === "msg" && line.kind === "request" ? line.msg : undefined;
    if (msg && (msg.type === "mmio.write" || msg.type === "TDG.VP.VMCALL<Instruction.IO>") && "value" in msg)
      phase = msg.value;
    if (
      line.type === "effect" &&
      line.effect.e === "write" &&
      line.effect.by.startsWith("guest/") &&
      line.effect.content.k === "zero"
    )
      zeros.push(phase);
  }
  return zeros;
}

const freeThenAlloc = (gfpZero: boolean): GuestStepInput[] => [
  { op: "write", gpa: PAGE, tag: "data" },
  { op: "post", value: 1 },
  { op: "free", gpa: PAGE, size: "4K" },
  { op: "post", value: 2 },
  { op: "alloc", gpa: PAGE, size: "4K", gfpZero },
  { op: "post", value: 3 },
];

describe("the guest page allocator", () => {
  // [init_on_alloc, init_on_free, __GFP_ZERO] -> phases with a zeroing store (1 = at free, 2 = at alloc).
  const cases: [boolean, boolean, boolean, number[]][] = [
    [false, false, false, []],
    [false, false, true, [2]],
    [true, false, false, [2]],
    [false, true, false, [1]],
    [true, true, false, [1]],
    [true, true, true, [1]],
  ];
  for (const [onAlloc, onFree, gfpZero, phases] of cases) {
    it(`should zero at ${phases.length ? phases.map((p) => (p === 1 ? "free" : "alloc")).join("+") : "neither"} with init_on_alloc=${+onAlloc} init_on_free=${+onFree} __GFP_ZERO=${+gfpZero}`, async () => {
      const log = await run("pkvm", { init_on_alloc: onAlloc, init_on_free: onFree }, freeThenAlloc(gfpZero));
      expect(zeroStoresAfterPost(log)).toEqual(phases);
    });
  }
});

describe("dma_direct_alloc()", () => {
  const dma: GuestStepInput[] = [
    { op: "post", value: 1 },
    { op: "dma-alloc", gpa: PAGE, size: "4K" },
    { op: "post", value: 2 },
  ];

  it("should share the buffer before clearing it on TDX, and clear through the shared alias", async () => {
    const log = await run("tdx", { init_on_alloc: false, init_on_free: false }, dma);
    const mapGpa = log.findIndex(
      (l) => l.type === "msg" && l.kind === "request" && l.msg.type === "TDG.VP.VMCALL<MapGPA>",
    );
    const memset = log.findIndex(
      (l) =>
        l.type === "effect" &&
        l.effect.e === "write" &&
        l.effect.by.startsWith("guest/") &&
        l.effect.content.k === "zero",
    );
    expect(mapGpa).toBeGreaterThan(0);
    expect(memset).toBeGreaterThan(mapGpa);
    const store = log[memset]!;
    expect(store.type === "effect" && store.effect.e === "write" && store.effect.gpa).toBe(PAGE + 2 ** 47);
  });

  it("should not share at all on pKVM (force_dma_unencrypted is is_realm_world), and clear once", async () => {
    const log = await run("pkvm", { init_on_alloc: false, init_on_free: false }, dma);
    expect(log.some((l) => l.type === "msg" && l.msg.type === "ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE")).toBe(
      false,
    );
    expect(zeroStoresAfterPost(log)).toEqual([1]);
  });

  it("should clear twice with init_on_alloc (allocator, then memset)", async () => {
    const log = await run("pkvm", { init_on_alloc: true, init_on_free: false }, dma);
    expect(zeroStoresAfterPost(log)).toEqual([1, 1]);
  });
});
