// The monitors every run uses, fresh per run (they keep shadow state).
import { ConfidentialityMonitor } from "./confidentiality.ts";
import { HardwareSafetyMonitor } from "./hardware-safety.ts";
import { IntegrityMonitor } from "./integrity.ts";
import type { Monitor } from "./monitor.ts";
import { OwnershipMonitor } from "./ownership.ts";
import { SanitisationMonitor } from "./sanitisation.ts";

export function standardMonitors(): Monitor[] {
  return [
    new ConfidentialityMonitor(),
    new IntegrityMonitor(),
    new SanitisationMonitor(),
    new HardwareSafetyMonitor(),
    new OwnershipMonitor(),
  ];
}
export type { Finding, Monitor } from "./monitor.ts";
