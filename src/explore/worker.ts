// The explorer's worker thread: runs batches (batch.ts). Loaded through worker-boot.mjs, which
// registers tsx in the thread first.
import { type BatchResult, type BatchTask, runBatch } from "./batch.ts";

export default function work(task: BatchTask): Promise<BatchResult> {
  return runBatch(task);
}
