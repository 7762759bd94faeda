// The built-in scenarios, in the order `cocomem list` and `npm start` show them.

import type { Scenario } from "./define.ts";
import { pkvmExploreDma, pkvmExploreSecret, pkvmExploreShare, tdxExploreSecret } from "./explore.ts";
import { pkvmSixteenVcpus, pkvmSixteenVcpusOverlap } from "./pkvm/concurrency.ts";
import {
  dmaAllocNotShared,
  dmaShareWindow,
  dmaShareWindowInitOnAlloc,
  dmaShareWindowInitOnFree,
} from "./pkvm/dma.ts";
import {
  pkvmBoot,
  pkvmGmemVmmTouch,
  pkvmKernelTouch,
  pkvmKernelTouchAndroid,
  pkvmMemShareUntouched,
  pkvmShareLeftover,
  pkvmShareLinux,
  pkvmTeardown,
  pkvmUnmap,
  pkvmVmmTouch,
} from "./pkvm/scenarios.ts";
import { bootMeasured } from "./tdx/boot.ts";
import { sixteenVcpus, sixteenVcpusOverlap, twoVcpus } from "./tdx/concurrency.ts";
import { conversionRoundTrips, implicitConversion } from "./tdx/conversion.ts";
import { tdxDmaAlloc } from "./tdx/dma.ts";
import { acceptDemote, acceptSizeMismatch } from "./tdx/huge-pages.ts";
import { lazyAccept2M, lazyAccept2MOn4K, lazyAccept4K } from "./tdx/lazy-accept.ts";
import { memslotDeleted, memslotWithoutGmem } from "./tdx/memslots.ts";
import { flexiblePendingVe, punchHoleLinux, punchHoleNaive } from "./tdx/punch-hole.ts";
import { teardown, teardownUnfinalized } from "./tdx/teardown.ts";

export const BUILT_IN: readonly Scenario[] = [
  bootMeasured,
  lazyAccept4K,
  lazyAccept2M,
  lazyAccept2MOn4K,
  conversionRoundTrips,
  implicitConversion,
  tdxDmaAlloc,
  punchHoleLinux,
  punchHoleNaive,
  flexiblePendingVe,
  twoVcpus,
  sixteenVcpus,
  sixteenVcpusOverlap,
  acceptSizeMismatch,
  acceptDemote,
  teardown,
  teardownUnfinalized,
  memslotDeleted,
  memslotWithoutGmem,
  tdxExploreSecret,
  pkvmBoot,
  pkvmShareLinux,
  pkvmShareLeftover,
  dmaShareWindow,
  dmaShareWindowInitOnAlloc,
  dmaShareWindowInitOnFree,
  dmaAllocNotShared,
  pkvmMemShareUntouched,
  pkvmVmmTouch,
  pkvmKernelTouch,
  pkvmKernelTouchAndroid,
  pkvmUnmap,
  pkvmGmemVmmTouch,
  pkvmTeardown,
  pkvmSixteenVcpus,
  pkvmSixteenVcpusOverlap,
  pkvmExploreSecret,
  pkvmExploreShare,
  pkvmExploreDma,
];

export function findBuiltIn(name: string): Scenario | undefined {
  return BUILT_IN.find((s) => s.spec.name === name);
}
