// The yardstick for cocomem's message rate: two bare XState v5 actors of one tiny machine passing
// a `ball` back and forth. It is the least any actor-per-party design built on XState pays per
// message (one event through an actor's mailbox and transition, one send), with no routing,
// logging, monitors or model behind it.
import { type AnyActorRef, assign, createActor, setup } from "xstate";

interface Ctx {
  peer: AnyActorRef | undefined;
  /** Deliveries to make in all, shared by both players through the count carried by the ball. */
  total: number;
  onDone: () => void;
}

type PingEvent = { type: "ball"; n: number } | { type: "peer"; peer: AnyActorRef };

const player = setup({
  types: {
    context: {} as Ctx,
    events: {} as PingEvent,
    input: {} as { total: number; onDone: () => void },
  },
  guards: {
    last: ({ context, event }) => event.type === "ball" && event.n >= context.total,
  },
}).createMachine({
  context: ({ input }) => ({ peer: undefined, total: input.total, onDone: input.onDone }),
  on: {
    peer: { actions: assign({ peer: ({ event }) => event.peer }) },
    ball: [
      { guard: "last", actions: ({ context }) => context.onDone() },
      // A plain send rather than XState's sendTo: the orchestrator drives parties with
      // actor.send too, and sendTo's relay costs ~25% more here, which would flatter the ratio.
      { actions: ({ context, event }) => context.peer!.send({ type: "ball", n: event.n + 1 }) },
    ],
  },
});

/** Play one game of `total` deliveries; resolves when the last ball has been received. */
export async function pingPong(total: number): Promise<void> {
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const input = { total, onDone: () => finish() };
  const a = createActor(player, { input }).start();
  const b = createActor(player, { input }).start();
  a.send({ type: "peer", peer: b });
  b.send({ type: "peer", peer: a });
  // Delivery number 1; each receiver sends the next number until `total` have been delivered.
  a.send({ type: "ball", n: 1 });
  await done;
  a.stop();
  b.stop();
}
