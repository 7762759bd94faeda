// Timing and heap helpers for the bench. Benches may read the wall clock and force GC; the model
// may not (its runs must stay a pure function of the seed), which is why these live here.
import { spawnSync } from "node:child_process";
import os from "node:os";
import { fileURLToPath } from "node:url";

export interface Machine {
  cpu: string;
  cores: number;
  node: string;
  os: string;
}

export function machine(): Machine {
  return {
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
  };
}

/** Set in the re-spawned child so a node that ignores --expose-gc cannot make us loop. */
const RESPAWNED = "COCOMEM_BENCH_RESPAWNED";

/**
 * Heap figures need `global.gc`, but the npm script is plain `tsx bench/run.ts`. So when gc is
 * missing, run this same entry again under `node --expose-gc --import tsx` and exit with its
 * status. Returns only in a process that has gc.
 */
export function ensureGc(entry: string): void {
  if (typeof global.gc === "function") return;
  if (process.env[RESPAWNED]) throw new Error("re-spawned with --expose-gc but global.gc is still missing");
  const child = spawnSync(
    process.execPath,
    ["--expose-gc", "--import", "tsx", fileURLToPath(entry), ...process.argv.slice(2)],
    { stdio: "inherit", env: { ...process.env, [RESPAWNED]: "1" } },
  );
  if (child.error) throw child.error;
  process.exit(child.status ?? 1);
}

/**
 * Used heap after full collections. Twice, because the first pass can leave objects that only
 * become unreachable once finalizers and weak references from it have been processed.
 */
export function settledHeap(): number {
  const gc = global.gc;
  if (!gc) throw new Error("global.gc missing: run through ensureGc");
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

export interface Weighed<T> {
  value: T;
  /** Settled heap growth, in bytes, from before making `value` to after. */
  bytes: number;
  /** Settled heap before, to weigh marks taken while `value` was being made. */
  baseline: number;
}

/**
 * The settled heap that making `value` added. `value` is returned after the second weighing, so
 * it is still reachable then and cannot be collected before it has been counted.
 */
export async function weigh<T>(make: () => T | Promise<T>): Promise<Weighed<T>> {
  const baseline = settledHeap();
  const value = await make();
  return { value, bytes: settledHeap() - baseline, baseline };
}

export interface Timed<T> {
  /** Best (shortest) wall time of the timed runs, in ms. */
  ms: number;
  /** Every timed run, in ms, for the JSON record. */
  all: number[];
  /** What each timed run returned, in run order (for figures a run times itself). */
  values: T[];
}

async function timeInto<T>(into: Timed<T>, fn: () => T | Promise<T>): Promise<void> {
  // Start from a collected heap, so no run pays for the garbage of the one before it.
  global.gc?.();
  const t0 = performance.now();
  into.values.push(await fn());
  const ms = performance.now() - t0;
  into.all.push(ms);
  into.ms = Math.min(into.ms, ms);
}

/**
 * Time `a` and `b` in alternating rounds, one untimed warm-up round then `runs` timed ones, and
 * keep each one's best. The warm-up lets V8 tier the hot code up; alternating puts a slow patch
 * of a shared machine on both sides rather than skewing their ratio; the minimum drops runs
 * slowed by a GC or by another process.
 */
export async function inTurns<A, B>(
  a: () => A | Promise<A>,
  b: () => B | Promise<B>,
  runs = 3,
): Promise<[Timed<A>, Timed<B>]> {
  const timedA: Timed<A> = { ms: Number.POSITIVE_INFINITY, all: [], values: [] };
  const timedB: Timed<B> = { ms: Number.POSITIVE_INFINITY, all: [], values: [] };
  await a();
  await b();
  for (let i = 0; i < runs; i++) {
    await timeInto(timedA, a);
    await timeInto(timedB, b);
  }
  return [timedA, timedB];
}
