// A 1 TiB guest must cost what a 1 GiB guest costs to create and set up: memory is sparse, so
// nothing may be sized by the guest's memory until it is touched. Compare the two on building the
// three parties and on running the setup until the VMM reports the TD finalized.
import { buildParties } from "../src/run/parties.ts";
import { inTurns, weigh } from "./measure.ts";
import { acceptScenario, markOf, runHeld } from "./model.ts";
import { progress, type Row, type Section, type Status, show } from "./report.ts";

/**
 * Building a guest or setting up its TD takes well under a millisecond and some tens of KiB: less
 * than timer jitter and than what a GC can leave behind. So both are measured on batches.
 */
const BATCH = 100;
/** Timed rounds, after one warm-up round: a batch still varies 2-5x on a busy 2-core machine. */
const ROUNDS = 10;
const TARGET_CONSTANT = 1.5;

/** The two things measured for a guest; each makes one copy. */
interface Guest {
  build: () => unknown;
  setup: () => Promise<unknown>;
}

/** A guest of `memory` doing one 2M accept on a 2M host; setup stops where its TD is finalized. */
async function guest(memory: string): Promise<Guest> {
  const scenario = acceptScenario(memory, "2M", "2M", "2M");
  const probe = await runHeld(scenario, { watch: ["td-finalized"] });
  const stopAfter = markOf(probe, "td-finalized").steps;
  return {
    build: () => buildParties(scenario.spec),
    setup: () => runHeld(scenario, { stopAfter }),
  };
}

/** `BATCH` copies of `make`, all kept alive until the caller drops the array. */
async function batch(make: () => unknown): Promise<unknown[]> {
  const all: unknown[] = [];
  for (let i = 0; i < BATCH; i++) all.push(await make());
  return all;
}

/** Best per-copy time of each, in ms, over batches timed in turns. */
async function timeInTurns(small: () => unknown, huge: () => unknown): Promise<[number, number]> {
  // Each batch is dropped once timed: kept, the batches would swell the heap the GC walks.
  const [a, b] = await inTurns(
    async () => {
      await batch(small);
    },
    async () => {
      await batch(huge);
    },
    ROUNDS,
  );
  return [a.ms / BATCH, b.ms / BATCH];
}

/** Per-copy settled heap of a batch, in bytes. */
async function heapPerCopy(make: () => unknown): Promise<number> {
  return (await weigh(() => batch(make))).bytes / BATCH;
}

/** The target is "does not grow with guest size": a 1 TiB guest costing less is sub-ms noise, not a miss. */
function constancy(ratio: number): Status {
  return ratio > TARGET_CONSTANT ? "ABOVE" : "PASS";
}

/** Rows for one figure of the small and the huge guest, and their ratio. */
function compare(what: string, [small, huge]: readonly [number, number], unit: "ms" | "B"): Row[] {
  const shown = unit === "ms" ? show.ms : show.bytes;
  const ratio = huge / small;
  return [
    { metric: `${what}, 1 GiB guest`, value: small, unit, shown: shown(small) },
    { metric: `${what}, 1 TiB guest`, value: huge, unit, shown: shown(huge) },
    {
      metric: `${what}, ratio 1T / 1G`,
      value: ratio,
      unit: "x",
      shown: show.ratio(ratio),
      target: `<= ${show.ratio(TARGET_CONSTANT)}`,
      status: constancy(ratio),
    },
  ];
}

export async function hugeGuest(): Promise<Section> {
  progress("1 GiB and 1 TiB guests: build parties, set up to TD finalized");
  const small = await guest("1G");
  const huge = await guest("1T");
  const buildTimes = await timeInTurns(small.build, huge.build);
  const setupTimes = await timeInTurns(small.setup, huge.setup);
  const buildHeaps: [number, number] = [await heapPerCopy(small.build), await heapPerCopy(huge.build)];
  const setupHeaps: [number, number] = [await heapPerCopy(small.setup), await heapPerCopy(huge.setup)];
  return {
    title: `1 TiB vs 1 GiB guest, per guest (batches of ${BATCH}; times best of ${ROUNDS} after warm-up)`,
    rows: [
      ...compare("build 3 parties: time", buildTimes, "ms"),
      ...compare("build 3 parties: heap", buildHeaps, "B"),
      ...compare("setup to TD finalized: time", setupTimes, "ms"),
      ...compare("setup to TD finalized: heap", setupHeaps, "B"),
    ],
  };
}
