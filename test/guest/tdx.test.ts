// The Linux TD guest's own checks, driven call by call with the answers a (lying) module or host
// gives: TDX_PAGE_ALREADY_ACCEPTED is a failure, not a success (arch/x86/coco/tdx/tdx-shared.c
// try_accept_one() treats any non-zero status as failure); the naive guest takes it as accepted.
import { describe, expect, it } from "vitest";
import { GuestPanic } from "../../actors/guest/arch.ts";
import { GUEST_POLICIES } from "../../actors/guest/policy.ts";
import { TdxGuest } from "../../actors/guest/tdx.ts";
import type { Request } from "../../protocol/index.ts";
import { type Flow, TaskRunner } from "../../src/kit/flows.ts";
import { PartyIO } from "../../src/kit/outbox.ts";

const SUCCESS = "0x0000000000000000";
/** TDX_PAGE_ALREADY_ACCEPTED (0x00000B0A00000000) | level 0, as the module reports it. */
const ALREADY_ACCEPTED = "0x00000b0a00000000";

/** A guest flow run step by step: `answer` replies to the request it is waiting on. */
function drive(policy: "linux" | "naive", body: (guest: TdxGuest) => Flow<void>) {
  const io = new PartyIO();
  const tasks = new TaskRunner(io);
  const guest = new TdxGuest(GUEST_POLICIES[policy], io, tasks);
  let failure: unknown;
  let done = false;
  tasks.spawn(
    "guest/vcpu0",
    (function* () {
      try {
        yield* body(guest);
        done = true;
      } catch (error) {
        failure = error;
      }
    })(),
  );
  let pending = io.drain().out[0];
  return {
    guest,
    get request(): Request | undefined {
      return pending?.msg as Request | undefined;
    },
    get failure() {
      return failure;
    },
    get done() {
      return done;
    },
    answer(response: object): void {
      const ref = pending!.ref!;
      tasks.resume(ref, response);
      pending = io.drain().out[0];
    },
  };
}

const accept4K = (guest: TdxGuest) => guest.accept(0x200000, 0x1000, 0);

describe("the Linux TD guest's accept", () => {
  it("should panic on TDX_PAGE_ALREADY_ACCEPTED (a page the host says is accepted twice)", () => {
    const run = drive("linux", accept4K);
    expect(run.request).toEqual({ type: "TDG.MEM.PAGE.ACCEPT", gpa: 0x200000, level: 0 });
    run.answer({ type: "TDG.MEM.PAGE.ACCEPT", status: ALREADY_ACCEPTED });
    expect(run.failure).toBeInstanceOf(GuestPanic);
    expect((run.failure as Error).message).toBe(
      "Failed to accept memory at 0x200000: TDX_PAGE_ALREADY_ACCEPTED",
    );
    expect(run.guest.accepted.has(0x200000)).toBe(false);
  });

  it("should, naively, count TDX_PAGE_ALREADY_ACCEPTED as accepted and go on", () => {
    const run = drive("naive", accept4K);
    run.answer({ type: "TDG.MEM.PAGE.ACCEPT", status: ALREADY_ACCEPTED });
    expect(run.failure).toBeUndefined();
    expect(run.done).toBe(true);
    expect(run.guest.accepted.has(0x200000)).toBe(true);
  });

  it("should accept a page on success and never ask for it again", () => {
    const run = drive("linux", function* (guest) {
      yield* accept4K(guest);
      yield* accept4K(guest);
    });
    run.answer({ type: "TDG.MEM.PAGE.ACCEPT", status: SUCCESS });
    expect(run.done).toBe(true);
    expect(run.request).toBeUndefined();
    expect(run.guest.accepted.has(0x200000)).toBe(true);
  });

  it("should fall back to 4K when a 2M accept meets TDX_PAGE_SIZE_MISMATCH", () => {
    const run = drive("linux", (guest) => guest.accept(0x200000, 0x200000, 1));
    expect(run.request).toEqual({ type: "TDG.MEM.PAGE.ACCEPT", gpa: 0x200000, level: 1 });
    run.answer({ type: "TDG.MEM.PAGE.ACCEPT", status: "0xc0000b0b00000001" });
    expect(run.request).toEqual({ type: "TDG.MEM.PAGE.ACCEPT", gpa: 0x200000, level: 0 });
    for (let i = 0; i < 512; i++) run.answer({ type: "TDG.MEM.PAGE.ACCEPT", status: SUCCESS });
    expect(run.done).toBe(true);
  });
});
