// What a run did, counted: requests and events delivered by message type (responses are implied
// by their requests), and exits by reason (TD exits, KVM exits: the unit of host work).
import type { Envelope } from "../../protocol/index.ts";

export class Stats {
  private readonly counts = new Map<string, number>();

  count(env: Envelope): void {
    if (env.kind !== "response") {
      this.add(env.msg.type);
    } else if ("exit" in env.msg && env.msg.exit) {
      const exit = env.msg.exit as { reason?: string; exit_reason?: string };
      this.add(`exit:${exit.reason ?? exit.exit_reason}`);
    }
  }

  /** Deliveries first, then each count by name. */
  snapshot(steps: number): Record<string, number> {
    const stats: Record<string, number> = { steps };
    for (const [type, count] of [...this.counts].sort((a, b) => a[0].localeCompare(b[0])))
      stats[type] = count;
    return stats;
  }

  private add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
}
