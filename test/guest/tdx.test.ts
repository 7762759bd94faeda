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
    // arch_accept_memory(): panic("TDX: Failed to accept memory") once tdx_accept_memory() fails.
    expect((run.failure as Error).message).toBe("TDX: Failed to accept memory");
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

describe("tdx_accept_memory() falls back on any failure (try_accept_one, tdx-shared.c)", () => {
  it("should try 4K after a 2M accept fails with TDX_OPERAND_BUSY, not only on a size mismatch", () => {
    const run = drive("linux", (guest) => guest.accept(0x200000, 0x200000, 1));
    run.answer({ type: "TDG.MEM.PAGE.ACCEPT", status: "0x8000020000000092" });
    expect(run.request).toEqual({ type: "TDG.MEM.PAGE.ACCEPT", gpa: 0x200000, level: 0 });
    for (let i = 0; i < 512; i++) run.answer({ type: "TDG.MEM.PAGE.ACCEPT", status: SUCCESS });
    expect(run.done).toBe(true);
  });

  it("should panic once a 4K accept fails, after the 2M try", () => {
    const run = drive("linux", (guest) => guest.accept(0x200000, 0x200000, 1));
    run.answer({ type: "TDG.MEM.PAGE.ACCEPT", status: "0xc0000b0b00000001" });
    run.answer({ type: "TDG.MEM.PAGE.ACCEPT", status: SUCCESS });
    run.answer({ type: "TDG.MEM.PAGE.ACCEPT", status: "0xc0000b0d00000000" });
    expect(run.request).toBeUndefined();
    expect((run.failure as Error).message).toBe("TDX: Failed to accept memory");
  });
});

const SHARED_BIT = 2 ** 47;
const MAPGPA_SUCCESS = { type: "TDG.VP.VMCALL<MapGPA>", status: SUCCESS };
const retryAt = (gpa: number) => ({
  type: "TDG.VP.VMCALL<MapGPA>",
  status: "0x0000000000000001",
  retryGpa: gpa,
});

describe("set_memory_encrypted() on TDX (tdx_enc_status_change_prepare, set_memory.c)", () => {
  /** The guest after boot with GPAW 48, its page shared, then converting it back. */
  function toPrivate() {
    const run = drive("linux", function* (guest) {
      guest.sharedBit = SHARED_BIT;
      guest.sharedView.add(0x200000, 0x201000);
      yield* guest.toPrivate("guest/vcpu0", 0x200000, 0x1000);
    });
    return run;
  }

  it("should MapGPA, then accept, and only then turn the PTEs private", () => {
    const run = toPrivate();
    expect(run.request).toEqual({ type: "TDG.VP.VMCALL<MapGPA>", gpa: 0x200000, size: 0x1000 });
    run.answer(MAPGPA_SUCCESS);
    expect(run.request).toEqual({ type: "TDG.MEM.PAGE.ACCEPT", gpa: 0x200000, level: 0 });
    expect(run.guest.sharedView.has(0x200000)).toBe(true);
    run.answer({ type: "TDG.MEM.PAGE.ACCEPT", status: SUCCESS });
    expect(run.done).toBe(true);
    expect(run.guest.sharedView.has(0x200000)).toBe(false);
  });

  it("should leave the PTEs shared and go on (-EIO, a WARN) when the accept fails", () => {
    const run = toPrivate();
    run.answer(MAPGPA_SUCCESS);
    run.answer({ type: "TDG.MEM.PAGE.ACCEPT", status: "0xc0000b0d00000000" });
    expect(run.failure).toBeUndefined();
    expect(run.done).toBe(true);
    expect(run.guest.sharedView.has(0x200000)).toBe(true);
  });

  it("should give up after three RETRYs in a row without progress (max_retries_per_page)", () => {
    const run = toPrivate();
    for (let i = 0; i < 3; i++) {
      expect(run.request).toEqual({ type: "TDG.VP.VMCALL<MapGPA>", gpa: 0x200000, size: 0x1000 });
      run.answer(retryAt(0x200000));
    }
    expect(run.request).toBeUndefined();
    expect(run.done).toBe(true);
    expect(run.guest.sharedView.has(0x200000)).toBe(true);
  });

  it("should reset the count on progress and fail on a RETRY address outside the range", () => {
    const run = drive("linux", function* (guest) {
      guest.sharedBit = SHARED_BIT;
      guest.sharedView.add(0x200000, 0x203000);
      yield* guest.toPrivate("guest/vcpu0", 0x200000, 0x3000);
    });
    run.answer(retryAt(0x200000));
    run.answer(retryAt(0x200000));
    run.answer(retryAt(0x201000));
    expect(run.request).toEqual({ type: "TDG.VP.VMCALL<MapGPA>", gpa: 0x201000, size: 0x2000 });
    run.answer(retryAt(0x201000));
    run.answer(retryAt(0x201000));
    expect(run.request).toEqual({ type: "TDG.VP.VMCALL<MapGPA>", gpa: 0x201000, size: 0x2000 });
    run.answer(retryAt(0x100000));
    expect(run.request).toBeUndefined();
    expect(run.guest.sharedView.has(0x200000)).toBe(true);
  });
});
