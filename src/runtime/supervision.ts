// Watching the parties: a party that throws has crashed; one that leaves a start or a delivery
// unanswered past its bound has hung. Wall-clock time guards the harness only: it never changes
// what the log says up to the hang. In-process parties answer synchronously, so the common path
// costs no microtask per message; only a real promise (another process) is awaited.
import type { PartyName } from "../../protocol/index.ts";
import type { Delivery, PartyEndpoint, StepOutput } from "../kit/party.ts";

export const DEFAULT_ANSWER_TIMEOUT_MS = 5000;
/** A start includes forking a process and loading the model and any plug-in: a longer bound. */
export const DEFAULT_START_TIMEOUT_MS = 30_000;

export interface Crash {
  party: PartyName;
  error: string;
}

export interface Hang {
  party: PartyName;
  /** The delivery left unanswered; 0: the party never answered its start. */
  step: number;
  ms: number;
}

export class Supervision {
  crashed: Crash | undefined;
  hung: Hang | undefined;

  constructor(
    private readonly answerTimeoutMs = DEFAULT_ANSWER_TIMEOUT_MS,
    private readonly startTimeoutMs = DEFAULT_START_TIMEOUT_MS,
  ) {}

  get failed(): boolean {
    return this.crashed !== undefined || this.hung !== undefined;
  }

  async start(party: PartyEndpoint): Promise<StepOutput | undefined> {
    let output: StepOutput | Promise<StepOutput>;
    try {
      output = party.start();
    } catch (error) {
      this.crash(party.name, error);
      return undefined;
    }
    if (!(output instanceof Promise)) return output;
    return this.settle(party.name, output, 0, this.startTimeoutMs);
  }

  /** The party's answer to delivery number `step`: at once in process, awaited from another process. */
  deliver(
    party: PartyEndpoint,
    delivery: Delivery,
    step: number,
  ): StepOutput | Promise<StepOutput | undefined> | undefined {
    let output: StepOutput | Promise<StepOutput>;
    try {
      output = party.deliver(delivery);
    } catch (error) {
      this.crash(party.name, error);
      return undefined;
    }
    return output instanceof Promise ? this.settle(party.name, output, step, this.answerTimeoutMs) : output;
  }

  crash(party: PartyName, error: unknown): void {
    this.crashed = { party, error: error instanceof Error ? error.message : String(error) };
  }

  private async settle(
    party: PartyName,
    pending: Promise<StepOutput>,
    step: number,
    ms: number,
  ): Promise<StepOutput | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<"hung">((resolve) => {
      timer = setTimeout(() => resolve("hung"), ms);
    });
    try {
      const answer = await Promise.race([pending, hang]);
      if (answer === "hung") {
        this.hung = { party, step, ms };
        return undefined;
      }
      return answer;
    } catch (error) {
      this.crash(party, error);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }
}
