// Multi-step kernel flows (accept a range, zap a page, convert) are written as generators that
// yield calls and receive their responses: cooperative threads with no real concurrency, so a
// flow reads top to bottom like the kernel code it models and stays deterministic. Locks are
// local: a task waiting on one sends nothing and resumes when the holder unlocks. A lock is taken
// exclusive (a spinlock, a mutex, a write_lock) or shared (a read_lock); waiters are served in
// arrival order, and a reader queues behind a waiting writer as with the kernel's queued rwlock
// (kernel/locking/qrwlock.c), so a stream of readers cannot starve a writer.
import type { Address, Request, Response } from "../../protocol/index.ts";
import type { PartyIO } from "./outbox.ts";

export interface CallOp {
  readonly to: Address;
  readonly msg: Request;
}
export type LockMode = "exclusive" | "shared";
export interface LockOp {
  readonly lock: string;
  readonly mode: LockMode;
}
export type Op = CallOp | LockOp;
export type Task = Generator<Op, void, unknown>;
export type Flow<T> = Generator<Op, T, unknown>;

/** `const r = yield* call("fw", {...})`: typed request, typed response. */
export function* call<M extends Request>(to: Address, msg: M): Flow<Response<M["type"]>> {
  return (yield { to, msg }) as Response<M["type"]>;
}

/** Take a party-local lock (e.g. Linux's accept lock); release with TaskRunner.unlock. */
export function* lock(key: string, mode: LockMode = "exclusive"): Flow<void> {
  yield { lock: key, mode };
}

interface Waiting {
  readonly from: Address;
  readonly task: Task;
}

interface LockWaiter extends Waiting {
  readonly mode: LockMode;
}

/** A held lock: by one exclusive holder, or by `holders` sharing it. */
interface Held {
  mode: LockMode;
  holders: number;
}

export class TaskRunner {
  private nextRef = 1;
  private readonly waiting = new Map<number, Waiting>();
  private readonly held = new Map<string, Held>();
  private readonly lockWaiters = new Map<string, LockWaiter[]>();

  constructor(private readonly io: PartyIO) {}

  spawn(from: Address, task: Task): void {
    this.advance(from, task, undefined);
  }

  /** Resume the task waiting on `ref`; false if no task waits on it (a stray response). */
  resume(ref: number, response: unknown): boolean {
    const waiting = this.waiting.get(ref);
    if (!waiting) return false;
    this.waiting.delete(ref);
    this.advance(waiting.from, waiting.task, response);
    return true;
  }

  /** Release one hold of `key`; the last one out hands it to the next waiter(s). */
  unlock(key: string): void {
    const held = this.held.get(key);
    // Not held: a flow driven by hand (a unit test) never took it.
    if (!held) return;
    if (--held.holders > 0) return;
    this.held.delete(key);
    const queue = this.lockWaiters.get(key);
    const granted: LockWaiter[] = [];
    // The next writer alone, or every reader at the head of the queue together.
    while (queue && queue.length > 0) {
      const head = queue[0]!;
      if (granted.length > 0 && (head.mode === "exclusive" || granted[0]!.mode === "exclusive")) break;
      granted.push(queue.shift()!);
    }
    if (queue?.length === 0) this.lockWaiters.delete(key);
    if (granted.length === 0) return;
    this.held.set(key, { mode: granted[0]!.mode, holders: granted.length });
    for (const waiter of granted) this.advance(waiter.from, waiter.task, undefined);
  }

  /** Drop every waiting task (the party stopped, e.g. the guest terminated). */
  abandonAll(): void {
    this.waiting.clear();
    this.lockWaiters.clear();
  }

  private advance(from: Address, task: Task, input: unknown): void {
    let value = input;
    for (;;) {
      const step = task.next(value);
      if (step.done) return;
      const op = step.value;
      if ("lock" in op) {
        if (this.tryLock(op.lock, op.mode)) {
          value = undefined;
          continue;
        }
        const queue = this.lockWaiters.get(op.lock) ?? [];
        queue.push({ from, task, mode: op.mode });
        this.lockWaiters.set(op.lock, queue);
        return;
      }
      const ref = this.nextRef++;
      this.waiting.set(ref, { from, task });
      this.io.request(from, op.to, op.msg, ref);
      return;
    }
  }

  /** Take the lock now if it is free, or shared with no writer waiting for it. */
  private tryLock(key: string, mode: LockMode): boolean {
    const held = this.held.get(key);
    if (!held) {
      this.held.set(key, { mode, holders: 1 });
      return true;
    }
    if (mode === "shared" && held.mode === "shared" && !this.lockWaiters.has(key)) {
      held.holders++;
      return true;
    }
    return false;
  }
}
