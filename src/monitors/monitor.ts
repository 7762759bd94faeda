// A monitor observes log lines and reports broken invariants. It never sends or mutates anything
// outside its own shadow state (P's spec monitors).
import type { EffectKind } from "../../protocol/index.ts";
import type { LogLine, ViolationLine } from "../../protocol/log.ts";

export type Finding = Omit<ViolationLine, "type" | "seq" | "monitor">;

/** A kind of log line a monitor may watch: an effect kind, or another line type. */
export type Interest = EffectKind | Exclude<LogLine["type"], "effect">;

export interface Monitor {
  readonly name: string;
  /**
   * The lines it needs: effect kinds ("write", "owner"...) or line types ("msg", "verdict"...).
   * The orchestrator hands it only those, so a monitor costs nothing on lines it ignores.
   */
  readonly interests: readonly Interest[];
  observe(line: LogLine, report: (finding: Finding) => void): void;
  /** Called once when the run ends (checks that need the whole run, e.g. leaked frames). */
  finish?(report: (finding: Finding) => void): void;
}
