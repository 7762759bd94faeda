// Teardown: every private page removed, cleared by the host, every TD page reclaimed, key freed.
import { isTdxSuccess } from "../../../protocol/status.ts";
import type { CheckedRun } from "../define.ts";
import { defineScenario } from "../define.ts";

function successes(run: CheckedRun, type: string): number {
  return run.log.filter(
    (l) =>
      l.type === "msg" &&
      l.kind === "response" &&
      l.msg.type === type &&
      "status" in l.msg &&
      isTdxSuccess(l.msg.status),
  ).length;
}

export const teardown = defineScenario(
  {
    name: "tdx/teardown",
    description:
      "A TD with an image, 4K and 2M private pages and a shared page is destroyed: zap (BLOCK, TRACK, REMOVE, WBINVD, MOVDIR64B), VP.FLUSH, VPFLUSHDONE, CACHE.WB, KEY.FREEID, RECLAIM of every S-EPT/vCPU page, TDR last.",
    platform: "tdx",
    guest: {
      memory: "16M",
      vcpus: 2,
      image: { pages: ["boot"], measure: false },
      workload: [
        [
          { op: "accept", gpa: "2M", size: "2M", level: "2M" },
          { op: "write", gpa: "2M", tag: "a", secret: true },
          { op: "convert", gpa: "0x201000", size: "4K", to: "shared" },
          { op: "write", gpa: "0x201000", tag: "pub", secret: false },
        ],
        [
          { op: "accept", gpa: "8M", size: "4M", level: "4K" },
          { op: "write", gpa: "8M", tag: "b", secret: true },
        ],
      ],
    },
    host: { privateLevel: "2M" },
    expect: { outcome: "completed" },
  },
  (run) => {
    const unmet: string[] = [];
    const mapped = successes(run, "TDH.MEM.PAGE.AUG") + successes(run, "TDH.MEM.PAGE.ADD");
    const removed = successes(run, "TDH.MEM.PAGE.REMOVE");
    const demoted = successes(run, "TDH.MEM.PAGE.DEMOTE");
    // A demoted 2M leaf becomes 512 4K leaves, each removed on its own.
    if (removed !== mapped + demoted * 511)
      unmet.push(`removed ${removed} leaves, mapped ${mapped} (+${demoted} demotes)`);
    if (successes(run, "TDH.MNG.KEY.FREEID") !== 1) unmet.push("HKID not freed");
    const reclaims = run.log.filter(
      (l) => l.type === "msg" && l.kind === "request" && l.msg.type === "TDH.PHYMEM.PAGE.RECLAIM",
    );
    const last = reclaims.at(-1);
    if (successes(run, "TDH.PHYMEM.PAGE.RECLAIM") !== reclaims.length) unmet.push("a RECLAIM failed");
    const tdr = run.log.find((l) => l.type === "msg" && l.msg.type === "TDH.MNG.CREATE");
    if (
      !last ||
      !tdr ||
      last.type !== "msg" ||
      tdr.type !== "msg" ||
      !("hpa" in last.msg) ||
      !("tdr" in tdr.msg) ||
      last.msg.hpa !== tdr.msg.tdr
    ) {
      unmet.push("the TDR was not reclaimed last");
    }
    return unmet;
  },
);

export const teardownUnfinalized = defineScenario(
  {
    name: "tdx/teardown-unfinalized",
    description:
      "The VMM builds a TD (two image pages added) and gives up before KVM_TDX_FINALIZE_VM: the TD is still INITIALIZED, where BLOCK, REMOVE, VP.FLUSH and VPFLUSHDONE are all legal (op_state_lookup, tdh_vp_flush.c, tdh_mng_vpflushdone.c), so every page comes back and the HKID is freed; no TRACK (tdx_track() needs a runnable TD) and nothing leaks.",
    platform: "tdx",
    guest: {
      memory: "16M",
      image: { pages: ["boot-0", "boot-1"], measure: true },
      workload: [[{ op: "read", gpa: 0 }]],
    },
    host: { stopBeforeFinalize: true },
    expect: { outcome: "vm-killed-by-host" },
  },
  (run) => {
    const unmet: string[] = [];
    const sent = (type: string) =>
      run.log.filter((l) => l.type === "msg" && l.kind === "request" && l.msg.type === type).length;
    if (sent("TDH.MR.FINALIZE") !== 0) unmet.push("the TD was finalized");
    if (sent("TDH.MEM.TRACK") !== 0) unmet.push("KVM tracked a TD that never ran");
    if (successes(run, "TDH.MEM.PAGE.REMOVE") !== 2) unmet.push("the two image pages were not removed");
    if (successes(run, "TDH.MNG.VPFLUSHDONE") !== 1) unmet.push("VPFLUSHDONE failed");
    if (successes(run, "TDH.MNG.KEY.FREEID") !== 1) unmet.push("HKID not freed");
    if (successes(run, "TDH.PHYMEM.PAGE.RECLAIM") !== sent("TDH.PHYMEM.PAGE.RECLAIM"))
      unmet.push("a RECLAIM failed");
    const leaks = run.log.filter(
      (l) => l.type === "effect" && l.effect.e === "fault" && l.effect.kind === "leaked",
    );
    if (leaks.length !== 0) unmet.push(`${leaks.length} pages leaked`);
    return unmet;
  },
);
