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
export function standardMonitors(platform: Platform): Monitor[] {
  return [
    new ConfidentialityMonitor(),
    new IntegrityMonitor(platform),
    platform === "tdx" ? new TdxSanitisationMonitor() : new PkvmSanitisationMonitor(),
    new HardwareSafetyMonitor(),
    new OwnershipMonitor(),
  ];
}
export type { Finding, Monitor } from "./monitor.ts";
