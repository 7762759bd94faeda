// Heap per touched 4K frame: the FrameStore alone (the floor, and the one with a target), then the
// whole model after a run, which adds the S-EPT, PAMT, host memory, guest and monitor state.

import type { Scenario } from "../src/scenarios/define.ts";
import { weighFrameStore } from "./frames.ts";
import { weigh } from "./measure.ts";
import { acceptScenario, markOf, runHeld, touchedFrames } from "./model.ts";
import { progress, type Row, type Section, show } from "./report.ts";

const FRAME_STORE_FRAMES = 1_000_000;
const TARGET_BYTES_PER_FRAME = 256;

async function frameStoreRows(): Promise<Row[]> {
  progress(`FrameStore with ${show.count(FRAME_STORE_FRAMES, "frames")}`);
  const store = await weighFrameStore(FRAME_STORE_FRAMES);
  return [
    {
      metric: `FrameStore alone, ${show.count(store.frames, "frames")}, 16 labels, 5 keys`,
      value: store.bytesPerFrame,
      unit: "B/frame",
      shown: show.perFrame(store.bytesPerFrame),
      target: `<= ${TARGET_BYTES_PER_FRAME} B/frame`,
      status: store.bytesPerFrame <= TARGET_BYTES_PER_FRAME ? "PASS" : "ABOVE",
    },
    {
      metric: "FrameStore write rate",
      value: store.writesPerSecond,
      unit: "frames/s",
      shown: show.count(store.writesPerSecond, "frames/s"),
    },
  ];
}

/**
 * One unweighed run first: the code V8 compiles for the 2M paths lives on the heap too. In a
 * function of its own, so that no register of the weighing function still holds this run.
 */
async function warmUp(scenario: Scenario): Promise<void> {
  await runHeld(scenario);
}

async function modelHeapRows(): Promise<Row[]> {
  const scenario = acceptScenario("1G", "256M", "2M", "2M");
  progress("whole model, 256 MiB accepted at 2M on a 2M host");
  await warmUp(scenario);
  const {
    value: held,
    bytes: retained,
    baseline,
  } = await weigh(() => runHeld(scenario, { watch: ["workload-complete"], weigh: true }));
  const touched = touchedFrames(held.parties);
  const live = markOf(held, "workload-complete").heap! - baseline;
  const perFrame = (bytes: number, when: string): Row => ({
    metric: `whole model ${when} (${show.bytes(bytes)} / ${show.count(touched, "frames")})`,
    value: bytes / touched,
    unit: "B/frame",
    shown: show.perFrame(bytes / touched),
  });
  return [
    perFrame(live, "at workload complete"),
    perFrame(retained, "after teardown (parties, monitors kept)"),
  ];
}

export async function heapPerFrame(): Promise<Section> {
  return {
    title: "heap per touched 4K frame (settled heapUsed delta after gc)",
    rows: [...(await frameStoreRows()), ...(await modelHeapRows())],
  };
}
