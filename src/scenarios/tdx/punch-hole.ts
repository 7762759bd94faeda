// PUNCH_HOLE behind the guest's back: the host frees a private page the guest accepted and
// wrote. The hole is in the private backing store, not the GPA space: attributes stay private,
// so the next access faults the page back in as a fresh PENDING page.

import type { ScenarioInput } from "../../../protocol/scenario.ts";
import type { CheckedRun } from "../define.ts";
import { defineScenario } from "../define.ts";

const PAGE = 0x400000;

const base = (name: string, policy: "linux" | "naive", septVeDisable: boolean): ScenarioInput => ({
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
  host: { septVeDisable, onPost: [{ value: 1, do: [{ op: "punch-hole", gpa: PAGE, size: "4K" }] }] },
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
