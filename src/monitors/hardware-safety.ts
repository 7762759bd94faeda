// Hardware safety: the host never consumes poison or reads a private line on an erratum part
// (#MC in the host). The host owns this: it must clear pages before reuse.
import type { LogLine } from "../../protocol/log.ts";
import type { Finding, Interest, Monitor } from "./monitor.ts";
import { isHost } from "./shared-bit.ts";

export class HardwareSafetyMonitor implements Monitor {
  readonly name = "hardware-safety";
  readonly interests: readonly Interest[] = ["mc"];

  observe(line: LogLine, report: (f: Finding) => void): void {
    if (line.type !== "effect" || line.effect.e !== "mc" || !isHost(line.effect.by)) return;
    report({
      invariant: "the host never takes a machine check",
      responsible: "host",
      hpa: line.effect.hpa,
      evidence: [line.seq],
      detail: `${line.effect.by}: ${line.effect.detail}`,
    });
  }
}
