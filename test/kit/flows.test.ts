// The flow runner's locks: exclusive and shared holds, served in arrival order, with a reader
// queueing behind a waiting writer (the kernel's queued rwlock). KVM's mmu_lock depends on it:
// faults hold it shared, zaps exclusive, so two zaps (and their TLB tracking) never interleave.
import { describe, expect, it } from "vitest";
import { type Flow, lock, TaskRunner } from "../../src/kit/flows.ts";
import { PartyIO } from "../../src/kit/outbox.ts";

/** A task that takes `key` in `mode`, logs "name+" once it holds it, and waits for a release. */
function harness() {
  const io = new PartyIO();
  const tasks = new TaskRunner(io);
  const events: string[] = [];
  const release = new Map<string, () => void>();
  const holder = (name: string, mode: "shared" | "exclusive") =>
    function* (): Flow<void> {
      yield* lock("mmu", mode);
      events.push(`${name}+`);
      // Park on a call; answering it releases the lock.
      yield* (function* () {
        yield { to: "hw", msg: { type: "vcpu.kick", vcpu: 0 } } as never;
      })();
      events.push(`${name}-`);
      tasks.unlock("mmu");
    };
  const refs = new Map<string, number>();
  let nextRef = 1;
  const spawn = (name: string, mode: "shared" | "exclusive") => {
    const before = events.length;
    tasks.spawn("host/kvm", holder(name, mode)());
    io.drain();
    // The runner numbers requests from 1 in the order tasks park on them.
    if (events.length > before) refs.set(name, nextRef++);
    release.set(name, () => {
      tasks.resume(refs.get(name)!, {});
    });
  };
  const unpark = (name: string) => {
    release.get(name)!();
    io.drain();
  };
  // A waiter that got the lock on someone's release parked on its call: give it the next ref.
  const granted = (name: string) => refs.set(name, nextRef++);
  return { events, spawn, unpark, granted };
}

describe("flow locks", () => {
  it("should let readers share a lock and keep a writer out until the last reader leaves", () => {
    const h = harness();
    h.spawn("r1", "shared");
    h.spawn("r2", "shared");
    h.spawn("w", "exclusive");
    expect(h.events).toEqual(["r1+", "r2+"]);
    h.unpark("r1");
    expect(h.events).toEqual(["r1+", "r2+", "r1-"]);
    h.unpark("r2");
    expect(h.events).toEqual(["r1+", "r2+", "r1-", "r2-", "w+"]);
  });

  it("should queue a reader behind a waiting writer, then admit the readers together", () => {
    const h = harness();
    h.spawn("r1", "shared");
    h.spawn("w", "exclusive");
    h.spawn("r2", "shared");
    h.spawn("r3", "shared");
    // r2 and r3 could share with r1, but a writer waits: they queue behind it.
    expect(h.events).toEqual(["r1+"]);
    h.unpark("r1");
    expect(h.events).toEqual(["r1+", "r1-", "w+"]);
    h.granted("w");
    h.unpark("w");
    expect(h.events).toEqual(["r1+", "r1-", "w+", "w-", "r2+", "r3+"]);
  });

  it("should hand an exclusive lock to one waiter at a time, in arrival order", () => {
    const h = harness();
    h.spawn("a", "exclusive");
    h.spawn("b", "exclusive");
    h.spawn("c", "exclusive");
    expect(h.events).toEqual(["a+"]);
    h.unpark("a");
    h.granted("b");
    expect(h.events).toEqual(["a+", "a-", "b+"]);
    h.unpark("b");
    expect(h.events).toEqual(["a+", "a-", "b+", "b-", "c+"]);
  });
});
