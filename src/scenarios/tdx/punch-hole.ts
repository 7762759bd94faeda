// PUNCH_HOLE behind the guest's back: the host frees a private page the guest accepted and
// wrote. The hole is in the private backing store, not the GPA space: attributes stay private,
// so the next access faults the page back in as a fresh PENDING page.

import type { ScenarioInput } from "../../../protocol/scenario.ts";
import { isTdxSuccess } from "../../../protocol/status.ts";
import type { CheckedRun } from "../define.ts";
import { defineScenario } from "../define.ts";

const PAGE = 0x400000;

const base = (
  name: string,
  policy: "linux" | "naive",
  septVeDisable: boolean,
  flexiblePendingVe = false,
): ScenarioInput => ({
  name,
  description: "",
  platform: "tdx",
  guest: {
    memory: "16M",
    policy,
    workload: [
      [
        { op: "accept", gpa: PAGE, size: "2M", level: "2M" },
        { op: "write", gpa: PAGE, tag: "accepted-data", secret: true },
        { op: "post", value: 1 },
        { op: "read", gpa: PAGE },
      ],
    ],
  },
  host: {
    septVeDisable,
    flexiblePendingVe,
    onPost: [{ value: 1, do: [{ op: "punch-hole", gpa: PAGE, size: "4K" }] }],
  },
  expect: { outcome: "completed" },
});

/** Did the guest ever read a zero at the page after the punch? (the silent zero page) */
function readZeroAfterPunch(run: CheckedRun): boolean {
  let punched = false;
  for (const line of run.log) {
    if (line.type === "msg" && line.msg.type === "fallocate") punched = true;
    if (
      punched &&
      line.type === "effect" &&
      line.effect.e === "read" &&
      line.effect.by.startsWith("guest/") &&
      line.effect.gpa === PAGE &&
      line.effect.content.k === "zero"
    ) {
      return true;
    }
  }
  return false;
}

export const punchHoleLinux = defineScenario(
  {
    ...base("tdx/punch-hole", "linux", true),
    description:
      "The VMM punches a hole under an accepted page. With SEPT_VE_DISABLE the next access exits on a PENDING page and KVM kills the TD: the Linux guest dies, never with a silent zero page.",
    expect: { outcome: "vm-killed-by-host" },
    expectWithPolicy: { naive: { outcome: "vm-killed-by-host", violations: [] } },
  },
  (run) => (readZeroAfterPunch(run) ? ["the guest read a silent zero page"] : []),
);

export const punchHoleNaive = defineScenario(
  {
    ...base("tdx/punch-hole-naive-no-sept-ve-disable", "naive", false),
    description:
      "Same punch on a TD built without SEPT_VE_DISABLE: the access gets #VE, the naive guest accepts on #VE and reads a silent zero page (a violation it is responsible for); Linux refuses to boot such a TD.",
    expect: { outcome: "violation", violations: ["no silent zero page"] },
    expectWithPolicy: { linux: { outcome: "guest-terminated", violations: [] } },
  },
  (run) => (readZeroAfterPunch(run) ? [] : ["expected the naive guest to read the silent zero page"]),
);

/** Did the guest turn TD_CTLS.PENDING_VE_DISABLE on itself, and the module take it? */
function guestDisabledSeptVe(run: CheckedRun): boolean {
  return run.log.some(
    (line) =>
      line.type === "msg" &&
      line.kind === "response" &&
      line.msg.type === "TDG.VM.WR" &&
      "status" in line.msg &&
      isTdxSuccess(line.msg.status),
  );
}

export const flexiblePendingVe = defineScenario(
  {
    ...base("tdx/flexible-pending-ve", "linux", false, true),
    description:
      "A TD built without SEPT_VE_DISABLE but with CONFIG_FLAGS.FLEXIBLE_PENDING_VE (a modified KVM; upstream never sets it): Linux's disable_sept_ve() writes TD_CTLS.PENDING_VE_DISABLE itself, so after the punch the access exits on the PENDING page and KVM kills the TD instead of a silent zero page.",
    expect: { outcome: "vm-killed-by-host" },
    expectWithPolicy: { naive: { outcome: "violation", violations: ["no silent zero page"] } },
  },
  (run) => {
    const unmet: string[] = [];
    const linux = run.policy === "linux";
    if (guestDisabledSeptVe(run) !== linux)
      unmet.push(linux ? "expected the guest to set PENDING_VE_DISABLE" : "the naive guest wrote TD_CTLS");
    if (readZeroAfterPunch(run) === linux)
      unmet.push(linux ? "the guest read a silent zero page" : "no zero page");
    return unmet;
  },
);
