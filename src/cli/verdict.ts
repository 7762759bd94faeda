// How a finished run is shown: one verdict block for `run`, one table row per scenario for
// `run --all` (what `npm start` prints).
import type { RunReport } from "../run.ts";

/** The host work a run cost, from its stats: TD exits, AUGs, accepts. */
export function workSummary(stats: Record<string, number>): string {
  const exits = stats["exit:EPT_VIOLATION"] ?? 0;
  const augs = stats["TDH.MEM.PAGE.AUG"] ?? 0;
  const accepts = stats["TDG.MEM.PAGE.ACCEPT"] ?? 0;
  return `${exits}/${augs}/${accepts}`;
}

export function verdictBlock(report: RunReport, command: string): string {
  const { result } = report;
  const lines = [
    `scenario  ${report.scenario}   seed ${report.seed}   guest policy ${report.policy}`,
    `outcome   ${result.outcome}: ${result.reason}`,
    `steps     ${result.steps} messages; EPT exits/AUG/ACCEPT ${workSummary(result.stats)}`,
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
  ["scenario", 42],
  ["outcome", 19],
  ["expected", 19],
  ["viol.", 6],
  ["steps", 8],
  ["exits/AUG/ACCEPT", 18],
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
    report.unmet.length === 0 ? "ok" : `UNEXPECTED: ${report.unmet.join("; ")}`,
  ];
  return `${cells.map((cell, i) => cell.padEnd(COLUMNS[i]![1])).join("")}\n`;
}
