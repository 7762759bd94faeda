// How a finished run is shown: one verdict block for `run`, one table row per scenario for
// `run --all` (what `npm start` prints).
import type { RunReport } from "../run/run.ts";

/** The host work a run cost, from its stats. TDX: EPT-violation exits / AUGs / ACCEPTs; pKVM:
 *  stage-2 aborts / donations / MEM_SHARE + MEM_UNSHARE calls. */
export function workSummary(stats: Record<string, number>): string {
  if (isPkvm(stats)) {
    const aborts = stats["exit:DABT_LOW"] ?? 0;
    const donations = stats.__pkvm_host_donate_guest ?? 0;
    const shares =
      (stats.ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE ?? 0) + (stats.ARM_SMCCC_VENDOR_HYP_KVM_MEM_UNSHARE ?? 0);
    return `${aborts}/${donations}/${shares}`;
  }
  const exits = stats["exit:EPT_VIOLATION"] ?? 0;
  const augs = stats["TDH.MEM.PAGE.AUG"] ?? 0;
  const accepts = stats["TDG.MEM.PAGE.ACCEPT"] ?? 0;
  return `${exits}/${augs}/${accepts}`;
}

const isPkvm = (stats: Record<string, number>) => (stats.KVM_CREATE_VM ?? 0) > 0;

function workLabel(stats: Record<string, number>): string {
  return isPkvm(stats) ? "stage-2 aborts/donations/MEM_SHARE+UNSHARE" : "EPT exits/AUG/ACCEPT";
}

/** What the work column counts, printed under the table. */
export const WORK_LEGEND =
  "work: TDX = EPT-violation exits/AUGs/ACCEPTs; pKVM = stage-2 aborts/donations/MEM_SHARE+UNSHARE";

export function verdictBlock(report: RunReport, command: string): string {
  const { result } = report;
  const lines = [
    `scenario  ${report.scenario}   seed ${report.seed}   profile ${report.profile}   guest policy ${report.policy}`,
    `outcome   ${result.outcome}: ${result.reason}`,
    // Beside a violation, how the run itself ended: the host threw, it stalled, or it completed.
    ...(result.outcome === result.underlying.outcome
      ? []
      : [`ending    the run itself ended ${result.underlying.outcome}: ${result.underlying.reason}`]),
    `steps     ${result.steps} messages; ${workLabel(result.stats)} ${workSummary(result.stats)}`,
  ];
  if (result.violations.length > 0) {
    lines.push(`violations (${result.violations.length}):`);
    for (const v of result.violations.slice(0, 20)) {
      const where =
        v.gpa !== undefined
          ? ` gpa 0x${v.gpa.toString(16)}`
          : v.hpa !== undefined
            ? ` hpa 0x${v.hpa.toString(16)}`
            : "";
      lines.push(
        `  [${v.monitor}] ${v.invariant}: ${v.responsible} responsible${where}: ${v.detail} (seq ${v.evidence.join(", ")})`,
      );
    }
    if (result.violations.length > 20) lines.push(`  ... ${result.violations.length - 20} more`);
  }
  if (report.unmet.length === 0) lines.push("as expected");
  else {
    lines.push("NOT as expected:");
    for (const u of report.unmet) lines.push(`  - ${u}`);
    lines.push(`reproduce: ${command}`);
  }
  return `${lines.join("\n")}\n`;
}

const COLUMNS = [
  ["scenario", 45],
  ["outcome", 19],
  ["expected", 19],
  ["viol.", 6],
  ["steps", 8],
  ["work", 18],
  ["", 0],
] as const;

export function tableHeader(): string {
  return `${COLUMNS.map(([name, width]) => name.padEnd(width)).join("")}\n`;
}

export function tableRow(report: RunReport, expected: string): string {
  const r = report.result;
  const cells = [
    report.scenario,
    r.outcome,
    expected,
    String(r.violations.length),
    String(r.steps),
    workSummary(r.stats),
    (report.unmet.length === 0 ? "ok" : `UNEXPECTED: ${report.unmet.join("; ")}`) + endingNote(r),
  ];
  // A cell wider than its column still gets one space before the next.
  return `${cells.map((cell, i) => (i === cells.length - 1 ? cell : `${cell.padEnd(COLUMNS[i]![1] - 1)} `)).join("")}\n`;
}

/** Beside a violation, a run that did not end by completing says how it ended. */
function endingNote(result: RunReport["result"]): string {
  const { outcome } = result.underlying;
  return outcome === result.outcome || outcome === "completed" ? "" : ` (the run itself ended ${outcome})`;
}
