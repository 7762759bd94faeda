// The scheduler's queues: messages from one address to another are delivered in order (FIFO per
// channel, as a link delivers), and the strategy chooses among the non-empty channels which one
// delivers next.
import type { Address, Envelope } from "../../protocol/index.ts";

/** A message waiting for delivery, with the sender's tag for the request it answers (responses). */
export interface Pending {
  env: Envelope;
  ref: number | undefined;
}

interface Channel {
  /** "from>to": the channel's name, stable for the run. */
  readonly name: string;
  readonly queue: Pending[];
  head: number;
  /** Position in `active`, or -1 when empty. */
  slot: number;
}

export class Channels {
  /** Channels by sender, then recipient. */
  private readonly byRoute = new Map<Address, Map<Address, Channel>>();
  /** Non-empty channels, in an order that is a pure function of the run so far. */
  private readonly active: Channel[] = [];

  /** How many channels have a message ready: the number of choices the scheduler has. */
  get ready(): number {
    return this.active.length;
  }

  /** The name ("from>to") of the `index`-th ready channel. */
  readonly nameOf = (index: number): string => this.active[index]!.name;

  push(from: Address, to: Address, pending: Pending): void {
    let byTo = this.byRoute.get(from);
    if (!byTo) {
      byTo = new Map();
      this.byRoute.set(from, byTo);
    }
    let channel = byTo.get(to);
    if (!channel) {
      channel = { name: `${from}>${to}`, queue: [], head: 0, slot: -1 };
      byTo.set(to, channel);
    }
    channel.queue.push(pending);
    if (channel.slot === -1) {
      channel.slot = this.active.length;
      this.active.push(channel);
    }
  }

  /** Take the oldest message of the `index`-th ready channel. */
  take(index: number): Pending {
    const channel = this.active[index]!;
    const next = channel.queue[channel.head]!;
    channel.head++;
    if (channel.head === channel.queue.length) {
      channel.queue.length = 0;
      channel.head = 0;
      // Swap-remove keeps taking O(1); the order stays a pure function of the choices made.
      const last = this.active.pop()!;
      if (last !== channel) {
        this.active[index] = last;
        last.slot = index;
      }
      channel.slot = -1;
    }
    return next;
  }
}
