// dma_alloc_coherent() in a TD: x86's force_dma_unencrypted() is true for a TDX guest, so
// dma_direct_alloc() (kernel/dma/direct.c) converts the buffer to shared (MapGPA) before its
// memset. Unlike pKVM, conversion hands the guest a different page: the private page and the
// secret it held are dropped, and the shared alias is backed by the VMM's own memory.
import { defineScenario } from "../define.ts";

const BUFFER = 0x200000;

export const tdxDmaAlloc = defineScenario(
  {
    name: "tdx/dma-alloc",
    description:
      "A page that held a secret is freed and reallocated by dma_alloc_coherent(): MapGPA to shared, then memset through the shared alias. The host reads the buffer and sees zero: on TDX the shared page is a different page, so there is no window.",
    platform: "tdx",
    guest: {
      memory: "16M",
      workload: [
        [
          { op: "accept", gpa: BUFFER, size: "2M", level: "2M" },
          { op: "write", gpa: BUFFER, tag: "old-secret", secret: true },
          { op: "free", gpa: BUFFER, size: "4K" },
          { op: "dma-alloc", gpa: BUFFER, size: "4K" },
          { op: "post", value: 1 },
        ],
      ],
    },
    host: { onPost: [{ value: 1, do: [{ op: "read-shared", gpa: BUFFER, size: "4K" }] }] },
    expect: { outcome: "completed" },
    expectWithPolicy: { naive: { outcome: "completed", violations: [] } },
  },
  (run) => {
    const unmet: string[] = [];
    const mapGpa = run.log.filter(
      (l) => l.type === "msg" && l.kind === "request" && l.msg.type === "TDG.VP.VMCALL<MapGPA>",
    );
    if (mapGpa.length === 0) unmet.push("the buffer was never converted to shared");
    const reads = run.log.flatMap((l) =>
      l.type === "effect" && l.effect.e === "read" && l.effect.by.startsWith("host/")
        ? [l.effect.content.k]
        : [],
    );
    if (reads.join(",") !== "zero") unmet.push(`host read ${reads.join(",")}, expected zero`);
    return unmet;
  },
);
