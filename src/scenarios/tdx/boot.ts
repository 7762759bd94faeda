import type { ScenarioInput } from "../../../protocol/scenario.ts";
import { type CheckedRun, defineScenario } from "../define.ts";

const IMAGE = ["kernel-text-0", "kernel-text-1", "initrd-0", "cmdline"];

const base: ScenarioInput = {
  name: "tdx/boot-measured",
  description:
    "Build phase: INIT_MEM_REGION adds a 4-page image (SEPT.ADD, PAGE.ADD, 16 x MR.EXTEND per page), FINALIZE makes MRTD final; the guest reads its image and uses fresh memory.",
  platform: "tdx",
  guest: {
    memory: "16M",
    image: { pages: IMAGE, measure: true },
    workload: [
      [
        { op: "read", gpa: 0 },
        { op: "read", gpa: "0x3000" },
        { op: "accept", gpa: "2M", size: "2M", level: "2M" },
        { op: "write", gpa: "2M", tag: "heap", secret: true },
        { op: "read", gpa: "2M" },
      ],
    ],
  },
  expect: { outcome: "completed" },
};

/** MRTD as KVM_TDX_FINALIZE_VM reported it in the log. */
export function mrtdOf(run: CheckedRun): string | undefined {
  for (const line of run.log) {
    if (line.type === "effect" && line.effect.e === "lifecycle" && line.effect.state === "td-finalized") {
      return line.effect.detail?.replace("MRTD ", "");
    }
  }
  return undefined;
}

export const bootMeasured = defineScenario(base, async (run, runAnother) => {
  const unmet: string[] = [];
  const mrtd = mrtdOf(run);
  if (!mrtd) return ["no MRTD in the log"];
  if ((run.result.stats["TDH.MR.EXTEND"] ?? 0) !== IMAGE.length * 16)
    unmet.push("expected 16 MR.EXTEND per image page");
  const again = await runAnother(defineScenario(base), run.seed + 1);
  if (mrtdOf(again) !== mrtd) unmet.push("MRTD differs between two builds of the same image");
  const pages = [...IMAGE];
  pages[2] = "initrd-0-tampered";
  const changed = defineScenario({ ...base, guest: { ...base.guest, image: { pages, measure: true } } });
  if (mrtdOf(await runAnother(changed, run.seed)) === mrtd)
    unmet.push("MRTD unchanged after one image page changed");
  return unmet;
});
