// The orchestrator's side of a party running in a child process (child_process.fork). Each start
// or delivery is one IPC round trip; a child that exits, is killed or answers with an error fails
// the pending call, which the orchestrator turns into a verdict naming the party.
import type { ChildProcess } from "node:child_process";
import type { PartyName } from "../../protocol/index.ts";
import type { Delivery, PartyEndpoint, StepOutput } from "../kit/party.ts";
import type { FromChild, ToChild } from "./child.ts";
import { giveBack, takeChild } from "./pool.ts";

export class ProcessParty implements PartyEndpoint {
  readonly isolated = true;
  private readonly child: ChildProcess;
  private pending: { resolve: (m: FromChild) => void; reject: (e: Error) => void } | undefined;
  private exited: string | undefined;
  /** The child's answer to `init`, asked at once so the three children build their parties together. */
  private readonly ready: Promise<FromChild>;

  constructor(
    readonly name: PartyName,
    private readonly init: Extract<ToChild, { type: "init" }>,
  ) {
    // An adversarial host gets a process of its own, never reused after it.
    this.child = takeChild(this.hostile);
    this.child.on("message", this.onMessage);
    this.child.on("exit", this.onExit);
    this.ready = this.ask(init);
    // A child that dies before start() is reported there; do not let it go unhandled meanwhile.
    this.ready.catch(() => undefined);
  }

  private readonly onMessage = (message: FromChild): void => {
    const pending = this.pending;
    this.pending = undefined;
    pending?.resolve(message);
  };

  private readonly onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
    this.exited = signal ? `killed by ${signal}` : `exited with code ${code}`;
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(new Error(`${this.name} process ${this.exited}`));
  };

  /** Whether this process runs adversarial host code (a plug-in or a corpus attack). */
  private get hostile(): boolean {
    return this.init.adversary !== undefined;
  }

  async start(): Promise<StepOutput> {
    const ready = await this.ready;
    if (ready.type === "error") throw new Error(ready.message);
    return this.output(await this.ask({ type: "start" }));
  }

  async deliver(delivery: Delivery): Promise<StepOutput> {
    return this.output(await this.ask({ type: "deliver", delivery }));
  }

  /** After a clean run the child goes back to the pool; a hung, dead or plug-in child is killed. */
  close(): void {
    if (this.exited !== undefined) return;
    if (this.pending !== undefined || this.hostile) {
      this.child.kill("SIGKILL");
      return;
    }
    this.child.off("message", this.onMessage);
    this.child.off("exit", this.onExit);
    giveBack(this.child);
  }

  private output(message: FromChild): StepOutput {
    if (message.type === "error") throw new Error(message.message);
    if (message.type !== "output") throw new Error(`${this.name} process answered out of turn`);
    return message.output;
  }

  private ask(message: ToChild): Promise<FromChild> {
    if (this.exited !== undefined) return Promise.reject(new Error(`${this.name} process ${this.exited}`));
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.child.send(message);
    });
  }
}
