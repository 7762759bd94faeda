// The monitors every run uses, fresh per run (they keep shadow state).
import type { Platform } from "../../protocol/scenario.ts";
import { ConfidentialityMonitor } from "./confidentiality.ts";
import { HardwareSafetyMonitor } from "./hardware-safety.ts";
import { IntegrityMonitor } from "./integrity.ts";
import type { Monitor } from "./monitor.ts";
import { OwnershipMonitor } from "./ownership.ts";
import { PkvmSanitisationMonitor } from "./sanitisation-pkvm.ts";
import { TdxSanitisationMonitor } from "./sanitisation-tdx.ts";

/** Each platform's contract decides who must zero what and who answers for foreign content. */
/**
 * The monitors of a run. On TDX the host must clear the pages it takes back only on parts with
 * the partial-write erratum (X86_BUG_TDX_PW_MCE); elsewhere the hardware needs no such clear.
 */
export function standardMonitors(
  platform: Platform,
  options: { partialWriteErratum?: boolean } = {},
): Monitor[] {
  return [
    new ConfidentialityMonitor(),
    new IntegrityMonitor(platform),
    platform === "tdx"
      ? new TdxSanitisationMonitor(options.partialWriteErratum ?? true)
      : new PkvmSanitisationMonitor(),
    new HardwareSafetyMonitor(),
    new OwnershipMonitor(),
  ];
}
export type { Finding, Monitor } from "./monitor.ts";
