// Memslots changed under a running TD, after the two cases of the KVM selftest
// tools/testing/selftests/kvm/x86/private_mem_kvm_exits_test.c (Linux 7.0): a private access
// whose memslot was deleted, and one whose memslot has no guest_memfd. Both end KVM_RUN with
// -EFAULT and a KVM_EXIT_MEMORY_FAULT {gpa, size 4096, flags PRIVATE}; QEMU cannot convert such
// a range, so it stops the VM.
import type { HostAction, ScenarioInput } from "../../../protocol/scenario.ts";
import { type CheckedRun, defineScenario } from "../define.ts";

const PAGE = 0x400000;

const base = (name: string, description: string, actions: HostAction[]): ScenarioInput => ({
  name,
  description,
  platform: "tdx",
  guest: {
    memory: "16M",
    workload: [
      [
        { op: "accept", gpa: PAGE, size: "2M", level: "2M" },
        { op: "write", gpa: PAGE, tag: "data", secret: true },
        { op: "post", value: 1 },
        { op: "read", gpa: PAGE },
      ],
    ],
  },
  host: { onPost: [{ value: 1, do: actions }] },
  expect: { outcome: "vm-killed-by-host" },
});

/** What the selftest asserts: the KVM_RUN that failed with -EFAULT and its memory-fault exit. */
function memoryFaultExit(run: CheckedRun): string[] {
  const failed = run.log.flatMap((l) =>
    l.type === "msg" &&
    l.kind === "response" &&
    l.msg.type === "KVM_RUN" &&
    "ret" in l.msg &&
    l.msg.ret === -14
      ? [l.msg]
      : [],
  );
  const exit = failed[0] && "exit" in failed[0] ? failed[0].exit : undefined;
  const want = { exit_reason: "KVM_EXIT_MEMORY_FAULT", gpa: PAGE, size: 4096, private: true };
  return failed.length === 1 && JSON.stringify(exit) === JSON.stringify(want)
    ? []
    : [`expected one KVM_RUN -EFAULT with ${JSON.stringify(want)}, saw ${JSON.stringify(failed)}`];
}

export const memslotDeleted = defineScenario(
  base(
    "tdx/memslot-deleted",
    "The VMM deletes the memslot under a running vCPU: KVM zaps its private pages (BLOCK, TRACK, REMOVE) and the private attribute stays; the guest's next access finds no memslot (kvm_handle_noslot_fault): KVM_RUN -EFAULT with KVM_EXIT_MEMORY_FAULT (private, 4K), and the VMM stops the TD.",
    [{ op: "delete-memslot", gpa: PAGE }],
  ),
  (run) => {
    const unmet = memoryFaultExit(run);
    const removed = run.log.filter(
      (l) => l.type === "msg" && l.kind === "request" && l.msg.type === "TDH.MEM.PAGE.REMOVE",
    ).length;
    if (removed === 0) unmet.push("deleting the memslot removed no private page");
    return unmet;
  },
);

export const memslotWithoutGmem = defineScenario(
  base(
    "tdx/memslot-without-guest-memfd",
    "The VMM replaces the memslot with one without guest_memfd over the same range: the private attribute stays, and the guest's next access finds a slot with no private backing (!kvm_slot_has_gmem): KVM_RUN -EFAULT with KVM_EXIT_MEMORY_FAULT (private, 4K), and the VMM stops the TD.",
    [
      { op: "delete-memslot", gpa: PAGE },
      { op: "add-memslot", gpa: 0, size: 0x1000000, guestMemfd: false },
    ],
  ),
  memoryFaultExit,
);
