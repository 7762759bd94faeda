// Built-in pKVM scenarios: donation on first touch, in-place sharing and who must zero, the
// MEM_SHARE fake abort, the host touching or trying to take back a protected page, and teardown.

import type { GuestStepInput } from "../../../protocol/scenario.ts";
import type { CheckedRun } from "../define.ts";
import { defineScenario } from "../define.ts";

const BASE = 0x100000; // 1M

/** Lines of the run log matching a predicate on effects. */
function effects(
  run: CheckedRun,
  keep: (e: Extract<CheckedRun["log"][number], { type: "effect" }>["effect"]) => boolean,
) {
  return run.log.flatMap((l) => (l.type === "effect" && keep(l.effect) ? [l.effect] : []));
}

function returns(run: CheckedRun, type: string): number[] {
  return run.log.flatMap((l) =>
    l.type === "msg" && l.kind === "response" && l.msg.type === type && "ret" in l.msg
      ? [Number(l.msg.ret)]
      : [],
  );
}

const touch = (pages: number): GuestStepInput[] =>
  Array.from({ length: pages }, (_, i) => [
    { op: "write" as const, gpa: BASE + i * 0x40000, tag: `page-${i}`, secret: true },
    { op: "read" as const, gpa: BASE + i * 0x40000 },
  ]).flat();

export const pkvmBoot = defineScenario(
  {
    name: "pkvm/boot",
    description:
      "A protected guest touches 8 pages: each first touch is a stage-2 fault, and the host pins a page and donates it (__pkvm_host_donate_guest).",
    platform: "pkvm",
    guest: { memory: "16M", workload: [touch(8)] },
    expect: { outcome: "completed" },
  },
  (run) => {
    const donations = returns(run, "__pkvm_host_donate_guest");
    return donations.length === 8 && donations.every((r) => r === 0)
      ? []
      : [`donations: ${donations.join(",")}`];
  },
);

const readShared = [{ value: 1, do: [{ op: "read-shared" as const, gpa: BASE, size: "4K" }] }];

/** What the host read from a frame, in order: content labels. */
export function hostReads(run: CheckedRun): string[] {
  return effects(run, (e) => e.e === "read" && e.by.startsWith("host/")).map((e) =>
    e.e === "read" ? (e.content.k === "data" ? e.content.tag : e.content.k) : "",
  );
}

export const pkvmShareLinux = defineScenario(
  {
    name: "pkvm/share-unshare",
    description:
      "Share and unshare in place: the guest puts public data in a page, MEM_SHAREs it, the host reads it, the guest updates it and MEM_UNSHAREs it; contents survive the round trip and nobody zeroes anything.",
    platform: "pkvm",
    guest: {
      memory: "16M",
      workload: [
        [
          { op: "write", gpa: BASE, tag: "request", secret: false },
          { op: "convert", gpa: BASE, size: "4K", to: "shared" },
          { op: "post", value: 1 },
          { op: "write", gpa: BASE, tag: "reply", secret: false },
          { op: "post", value: 1 },
          { op: "convert", gpa: BASE, size: "4K", to: "private" },
          { op: "read", gpa: BASE },
        ],
      ],
    },
    host: { onPost: readShared },
    expect: { outcome: "completed" },
    expectWithPolicy: { naive: { outcome: "completed", violations: [] } },
  },
  (run) => {
    const unmet: string[] = [];
    const seen = hostReads(run).join(",");
    if (seen !== "request,reply") unmet.push(`host read ${seen}, expected request,reply`);
    const guestRead = effects(run, (e) => e.e === "read" && e.by.startsWith("guest/")).at(-1);
    if (guestRead?.e !== "read" || guestRead.content.k !== "data" || guestRead.content.tag !== "reply")
      unmet.push("the guest did not read its reply back after MEM_UNSHARE");
    return unmet;
  },
);

export const pkvmShareLeftover = defineScenario(
  {
    name: "pkvm/share-leftover-secret",
    description:
      "A page that holds a secret is shared as it is: Linux's pkvm-guest driver zeroes nothing before MEM_SHARE and sharing is in place, so the host reads the secret; the guest is responsible (whoever shares a page must clear it first).",
    platform: "pkvm",
    guest: {
      memory: "16M",
      workload: [
        [
          { op: "write", gpa: BASE, tag: "left-behind-secret", secret: true },
          { op: "convert", gpa: BASE, size: "4K", to: "shared" },
          { op: "post", value: 1 },
        ],
      ],
    },
    host: { onPost: readShared },
    expect: { outcome: "violation", violations: ["no guest secret reaches the host"] },
    expectWithPolicy: { naive: { outcome: "violation", violations: ["no guest secret reaches the host"] } },
  },
  (run) =>
    run.result.violations.every((v) => v.responsible === "guest")
      ? []
      : ["the leak was not blamed on the guest"],
);

export const pkvmMemShareUntouched = defineScenario(
  {
    name: "pkvm/mem-share-untouched",
    description:
      "MEM_SHARE on an IPA the guest never touched: EL2 asks the host for the page (android16-6.12: a MAP hyp request; linux-7.1: a fake data abort), ELR -= 4, the host donates a page, and the HVC re-executes, shares it and returns to the guest with no further exit.",
    platform: "pkvm",
    guest: {
      memory: "16M",
      policy: "naive",
      workload: [
        [
          { op: "convert", gpa: BASE, size: "4K", to: "shared" },
          { op: "write", gpa: BASE, tag: "public", secret: false },
          { op: "post", value: 1 },
        ],
      ],
    },
    host: { onPost: readShared },
    expect: { outcome: "completed" },
    expectWithPolicy: { linux: { outcome: "completed", violations: [] } },
  },
  (run) => {
    const unmet: string[] = [];
    const exits = run.log.flatMap((l) =>
      l.type === "msg" && l.msg.type === "__kvm_vcpu_run" && "exit" in l.msg && l.msg.exit
        ? [l.msg.exit]
        : [],
    );
    const asked =
      run.profile === "linux-7.1"
        ? exits.filter((e) => e.reason === "DABT_LOW" && e.memshare)
        : exits.filter((e) => e.reason === "HYP_REQ" && e.req === "MAP" && e.ipa === BASE);
    if (asked.length !== 1)
      unmet.push(`expected one request for the page (${run.profile}), saw ${asked.length}`);
    if (exits.some((e) => e.reason === "HVC")) unmet.push("a successful MEM_SHARE exited to the host");
    const x0 = run.log.flatMap((l) =>
      l.type === "msg" &&
      l.kind === "response" &&
      l.msg.type === "ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE" &&
      "x0" in l.msg
        ? [l.msg.x0]
        : [],
    );
    if (x0.join(",") !== "0") unmet.push(`MEM_SHARE answered ${x0.join(",")}, expected one 0`);
    if (hostReads(run).join(",") !== "public") unmet.push(`host read ${hostReads(run).join(",")}`);
    return unmet;
  },
);

const touchThenHost = (value: number): GuestStepInput[] => [
  { op: "write", gpa: BASE, tag: "private-secret", secret: true },
  { op: "post", value },
  { op: "read", gpa: BASE },
];

export const pkvmVmmTouch = defineScenario(
  {
    name: "pkvm/host-vmm-touches-donated",
    description:
      "The VMM (EL0) reads a page it donated: the host stage-2 no longer maps it, the abort becomes SIGSEGV; nothing leaks and the guest goes on.",
    platform: "pkvm",
    guest: { memory: "16M", workload: [touchThenHost(1)] },
    host: { onPost: readShared },
    expect: { outcome: "completed" },
  },
  (run) =>
    effects(run, (e) => e.e === "fault" && e.kind === "SIGSEGV").length === 1
      ? []
      : ["expected one SIGSEGV in the VMM"],
);

/** The guest's last read of its page: what it saw. */
function lastGuestRead(run: CheckedRun): string | undefined {
  const read = effects(run, (e) => e.e === "read" && e.by.startsWith("guest/")).at(-1);
  return read?.e === "read" ? (read.content.k === "data" ? read.content.tag : read.content.k) : undefined;
}

export const pkvmKernelTouch = defineScenario(
  {
    name: "pkvm/host-kernel-touches-donated",
    description:
      "linux-7.1: the host kernel (EL1) reads a donated page through a kernel mapping: the fault handler force-reclaims it (pkvm_force_reclaim_guest_page()), EL2 poisons the IPA and zeroes the page, the kernel's retried read sees zero; the guest's next access ends KVM_RUN with -EFAULT. The host destroyed the page but never read it.",
    platform: "pkvm",
    profile: "linux-7.1",
    guest: { memory: "16M", workload: [touchThenHost(1)] },
    host: { onPost: [{ value: 1, do: [{ op: "kernel-read", gpa: BASE }] }] },
    expect: { outcome: "vm-killed-by-host" },
    expectWithProfile: { "android16-6.12": { outcome: "completed", violations: [] } },
  },
  (run) => {
    const unmet: string[] = [];
    if (returns(run, "__pkvm_force_reclaim_guest_page").join(",") !== "0")
      unmet.push("no successful force reclaim");
    if (hostReads(run).join(",") !== "zero")
      unmet.push(`host read ${hostReads(run).join(",")}, expected zero`);
    const kvmRun = returns(run, "KVM_RUN");
    if (!kvmRun.includes(-14)) unmet.push("KVM_RUN never failed with -EFAULT");
    return unmet;
  },
);

export const pkvmKernelTouchAndroid = defineScenario(
  {
    name: "pkvm/host-kernel-touches-donated-android16",
    description:
      'android16-6.12: the same EL1 read: EL2 injects the abort into the host (host_inject_abort()) and there is no forced reclaim, so the kernel oopses ("Unable to handle kernel access to hypervisor-protected memory"); the page stays with the guest, which reads its data back and completes.',
    platform: "pkvm",
    profile: "android16-6.12",
    guest: { memory: "16M", workload: [touchThenHost(1)] },
    host: { onPost: [{ value: 1, do: [{ op: "kernel-read", gpa: BASE }] }] },
    expect: { outcome: "completed" },
    expectWithProfile: { "linux-7.1": { outcome: "vm-killed-by-host", violations: [] } },
  },
  (run) => {
    const unmet: string[] = [];
    if (effects(run, (e) => e.e === "fault" && e.kind === "die_kernel_fault").length !== 1)
      unmet.push("expected one host oops");
    if (returns(run, "__pkvm_force_reclaim_guest_page").length !== 0)
      unmet.push("the host tried a forced reclaim");
    if (hostReads(run).length !== 0) unmet.push(`host read ${hostReads(run).join(",")}`);
    if (lastGuestRead(run) !== "private-secret") unmet.push(`the guest read ${lastGuestRead(run)} back`);
    return unmet;
  },
);

export const pkvmUnmap = defineScenario(
  {
    name: "pkvm/host-unmap-protected",
    description:
      "The host tries to unmap a protected page (refused: EL2 -EPERM on android16-6.12, the host itself on linux-7.1) and madvise(MADV_DONTNEED)s the memory behind it: madvise succeeds and drops the VMM's mapping, but the page stays pinned and donated, so the guest reads its data back.",
    platform: "pkvm",
    guest: { memory: "16M", workload: [touchThenHost(1)] },
    host: {
      onPost: [
        {
          value: 1,
          do: [
            { op: "unmap", gpa: BASE },
            { op: "discard", gpa: BASE, size: "4K" },
          ],
        },
      ],
    },
    expect: { outcome: "completed" },
  },
  (run) => {
    const unmet: string[] = [];
    const wrprotect = returns(run, "__pkvm_host_wrprotect_guest").join(",");
    const expected = run.profile === "linux-7.1" ? "" : "-1";
    if (wrprotect !== expected) unmet.push(`wrprotect returned [${wrprotect}], expected [${expected}]`);
    if (effects(run, (e) => e.e === "fault" && e.kind === "unmap refused").length !== 1)
      unmet.push("the unmap was not refused");
    if (returns(run, "madvise").join(",") !== "0") unmet.push(`madvise returned ${returns(run, "madvise")}`);
    if (lastGuestRead(run) !== "private-secret") unmet.push(`the guest read ${lastGuestRead(run)} back`);
    return unmet;
  },
);

export const pkvmGmemVmmTouch = defineScenario(
  {
    name: "pkvm/gmem-vmm-touches-private",
    description:
      "guest_memfd with in-place sharing (2026 proposal): the VMM's mapping faults on a private page with SIGBUS, and reads the page once the guest shared it.",
    platform: "pkvm",
    guest: {
      memory: "16M",
      workload: [
        [
          { op: "write", gpa: BASE, tag: "private", secret: true },
          { op: "post", value: 1 },
          { op: "convert", gpa: BASE, size: "4K", to: "shared" },
          { op: "write", gpa: BASE, tag: "public", secret: false },
          { op: "post", value: 1 },
        ],
      ],
    },
    host: { variant: "gmem", onPost: readShared },
    expect: { outcome: "completed" },
  },
  (run) => {
    const unmet: string[] = [];
    if (effects(run, (e) => e.e === "fault" && e.kind === "SIGBUS").length !== 1)
      unmet.push("expected one SIGBUS");
    if (hostReads(run).join(",") !== "public") unmet.push(`host read ${hostReads(run).join(",")}`);
    return unmet;
  },
);

export const pkvmTeardown = defineScenario(
  {
    name: "pkvm/teardown",
    description:
      "Teardown of a protected VM with 4 private pages and 1 shared page: __pkvm_start_teardown_vm, then every page reclaimed; EL2 zeroes the 4 guest-owned pages before the host gets them back, the shared one comes back as it is.",
    platform: "pkvm",
    guest: {
      memory: "16M",
      workload: [
        [
          ...touch(4),
          { op: "convert", gpa: BASE + 0x200000, size: "4K", to: "shared" },
          { op: "write", gpa: BASE + 0x200000, tag: "published", secret: false },
        ],
      ],
    },
    expect: { outcome: "completed" },
  },
  (run) => {
    const unmet: string[] = [];
    const zeroes = effects(
      run,
      (e) => e.e === "zero" && e.by === "fw" && e.why.includes("__pkvm_reclaim_dying_guest_page"),
    );
    if (zeroes.length !== 4) unmet.push(`EL2 zeroed ${zeroes.length} pages at teardown, expected 4`);
    const reclaims = returns(run, "__pkvm_reclaim_dying_guest_page");
    if (reclaims.length !== 5 || reclaims.some((r) => r !== 0)) unmet.push(`reclaims: ${reclaims.join(",")}`);
    if (returns(run, "__pkvm_finalize_teardown_vm").join(",") !== "0") unmet.push("teardown not finalized");
    return unmet;
  },
);
