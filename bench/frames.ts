// Heap cost of the sparse physical memory alone: fill a FrameStore with a million frames whose
// contents and keys vary the way a long run's do (a handful of distinct labels, several keys,
// the odd poisoned line), spread over a 1 TiB physical range.
import type { Content } from "../protocol/index.ts";
import { type Frame, FrameStore } from "../src/hardware/frames.ts";
import { weigh } from "./measure.ts";

/** 16 distinct contents: what zeroing, image loads, guest/host writes and wrong-key reads leave. */
const LABELS: readonly Content[] = [
  { k: "zero" },
  { k: "uninit" },
  ...["bios", "kernel", "initrd"].map((tag): Content => ({ k: "image", tag })),
  ...["stack", "heap", "page-cache", "keys"].map(
    (tag): Content => ({ k: "data", writer: "guest", tag, secret: tag === "keys" }),
  ),
  ...["virtio-ring", "dma", "swiotlb"].map(
    (tag): Content => ({ k: "data", writer: "host", tag, secret: false }),
  ),
  ...[1, 2, 3, 4].map((keyId): Content => ({ k: "ciphertext", keyId })),
];
/** Host key 0 and a few TD HKIDs. */
const KEY_IDS = [0, 1, 2, 3, 17] as const;
/** 2^28 frames of 4K = 1 TiB; a million frames spaced evenly across it. */
const SPAN_FRAMES = 2 ** 28;

/** xorshift32: varied but reproducible picks, so every run weighs the same store. */
function picker(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

function frameAt(pick: (n: number) => number): Frame {
  return {
    content: LABELS[pick(LABELS.length)]!,
    keyId: KEY_IDS[pick(KEY_IDS.length)]!,
    poisoned: pick(64) === 0,
  };
}

export interface FrameStoreFigures {
  frames: number;
  bytesPerFrame: number;
  writesPerSecond: number;
}

function fill(count: number): { store: FrameStore; ms: number } {
  const pick = picker(0x5eed);
  const stride = Math.floor(SPAN_FRAMES / count);
  const store = new FrameStore();
  const t0 = performance.now();
  for (let i = 0; i < count; i++) store.set(i * stride, frameAt(pick));
  return { store, ms: performance.now() - t0 };
}

export async function weighFrameStore(count: number): Promise<FrameStoreFigures> {
  const { value, bytes } = await weigh(() => fill(count));
  const touched = value.store.touched;
  if (touched !== count) throw new Error(`FrameStore holds ${touched} frames, ${count} were written`);
  return { frames: count, bytesPerFrame: bytes / count, writesPerSecond: (count / value.ms) * 1000 };
}
