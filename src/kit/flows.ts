// Multi-step kernel flows (accept a range, zap a page, convert) are written as generators that
// yield calls and receive their responses: cooperative threads with no real concurrency, so a
// flow reads top to bottom like the kernel code it models and stays deterministic. Locks are
// local: a task waiting on one sends nothing and resumes when the holder unlocks.
import type { Address, Request, Response } from "../../protocol/index.ts";
import type { PartyIO } from "./outbox.ts";

export interface CallOp {
  readonly to: Address;
  readonly msg: Request;
}
export interface LockOp {
  readonly lock: string;
}
export type Op = CallOp | LockOp;
export type Task = Generator<Op, void, unknown>;
export type Flow<T> = Generator<Op, T, unknown>;

/** `const r = yield* call("fw", {...})`: typed request, typed response. */
export function* call<M extends Request>(to: Address, msg: M): Flow<Response<M["type"]>> {
  return (yield { to, msg }) as Response<M["type"]>;
}

/** Take a party-local lock (e.g. Linux's accept lock); release with TaskRunner.unlock. */
export function* lock(key: string): Flow<void> {
  yield { lock: key };
}

interface Waiting {
  readonly from: Address;
  readonly task: Task;
}

export class TaskRunner {
  private nextRef = 1;
  private readonly waiting = new Map<number, Waiting>();
  private readonly held = new Set<string>();
  private readonly lockWaiters = new Map<string, Waiting[]>();

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

  unlock(key: string): void {
    const next = this.lockWaiters.get(key)?.shift();
    if (next) this.advance(next.from, next.task, undefined);
    else this.held.delete(key);
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
        if (!this.held.has(op.lock)) {
          this.held.add(op.lock);
          value = undefined;
          continue;
        }
        const queue = this.lockWaiters.get(op.lock) ?? [];
        queue.push({ from, task });
        this.lockWaiters.set(op.lock, queue);
        return;
      }
      const ref = this.nextRef++;
      this.waiting.set(ref, { from, task });
      this.io.request(from, op.to, op.msg, ref);
      return;
    }
  }
}
