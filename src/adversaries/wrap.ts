// The honest host behind an adversary's hooks. Everything the honest host receives or sends
// passes the hooks first; the adversary's own requests get refs the honest host never uses, so
// their responses come back to the adversary alone.
import type { Address, Envelope, PartyName, Request } from "../../protocol/index.ts";
import type { Chooser } from "../kit/choice.ts";
import type { Delivery, OutMsg, PartyEndpoint, StepOutput } from "../kit/party.ts";
import type { AttackContext, HostHooks, Platform, SendDecision } from "./api.ts";

/** Refs at or above this belong to the adversary's own requests. */
const ADVERSARY_REFS = 1_000_000_000;

export class WrappedHost implements PartyEndpoint {
  readonly name: PartyName = "host";
  private step = 0;
  private nextRef = ADVERSARY_REFS;
  private readonly callbacks = new Map<number, (response: never) => void>();
  /** Messages held back: released when `due` deliveries have passed. */
  private held: { due: number; out: OutMsg }[] = [];
  private injected: OutMsg[] = [];
  private readonly context: AttackContext;

  constructor(
    private readonly inner: PartyEndpoint,
    private readonly hooks: HostHooks,
    platform: Platform,
    chooser: Chooser,
  ) {
    const self = this;
    this.context = {
      platform,
      choose: (n, label) => chooser.choose(n, label),
      get step() {
        return self.step;
      },
      request(to, msg, onResponse, from) {
        const ref = self.nextRef++;
        if (onResponse) self.callbacks.set(ref, onResponse as (response: never) => void);
        self.injected.push({ from: from ?? defaultSender(msg), to, kind: "request", msg, ref });
      },
    };
  }

  async start(): Promise<StepOutput> {
    const out = await this.inner.start();
    return this.after(out);
  }

  async deliver(delivery: Delivery): Promise<StepOutput> {
    this.step++;
    const { env, ref } = delivery;
    if (ref !== undefined && ref >= ADVERSARY_REFS) {
      this.callbacks.get(ref)?.(env.msg as never);
      this.callbacks.delete(ref);
      return this.after({ out: [], effects: [] });
    }
    const decision = this.hooks.onReceive?.(env, this.context) ?? "keep";
    if (decision === "drop") return this.after({ out: [], effects: [] });
    const delivered: Envelope = typeof decision === "object" ? decision.replace : env;
    const out = await this.inner.deliver(ref === undefined ? { env: delivered } : { env: delivered, ref });
    return this.after(out);
  }

  /** Pass the honest host's output through the hooks, release held messages, add injections. */
  private after(output: StepOutput): StepOutput {
    const out: OutMsg[] = [];
    for (const msg of output.out) this.decide(this.hooks.onSend?.(msg, this.context) ?? "keep", msg, out);
    const due = this.held.filter((h) => h.due <= this.step);
    this.held = this.held.filter((h) => h.due > this.step);
    out.push(...due.map((h) => h.out));
    this.hooks.tick?.(this.context);
    out.push(...this.injected);
    this.injected = [];
    return { out, effects: [...output.effects] };
  }

  private decide(decision: SendDecision, msg: OutMsg, out: OutMsg[]): void {
    if (decision === "keep") out.push(msg);
    else if (decision === "drop") return;
    else if ("replace" in decision) out.push(decision.replace);
    else this.held.push({ due: this.step + decision.delay, out: msg });
  }
}

/** Memory accesses come from the VMM's process; everything else from the host kernel. */
function defaultSender(msg: Request): Address {
  return msg.type === "host.access" ? "host/vmm" : "host/kvm";
}
