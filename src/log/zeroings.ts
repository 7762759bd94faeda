// "Who zeroes what": the pages each actor zeroed, and why, counted from a run's zero effects.
// `cocomem compare` prints them for TDX and pKVM, `cocomem diff` for two logs, side by side.
import type { LogLine } from "../../protocol/log.ts";

/** Add a line's zeroing, if it is one, to `counts` (pages by "who: why"). */
export function countZeroing(counts: Map<string, number>, line: LogLine): void {
  if (line.type !== "effect") return;
  const add = (key: string, pages: number) => counts.set(key, (counts.get(key) ?? 0) + pages);
  const e = line.effect;
  // vCPUs are numbered per run; what they did is the same whichever one did it.
  if (e.e === "zero") add(`${e.by.replace(/\d+$/, "N")}: ${e.why}`, e.pages);
  // A guest clears a page with ordinary stores of zeros (pKVM: before sharing, before trusting).
  if (e.e === "write" && e.by.startsWith("guest/") && e.content.k === "zero")
    add("guest/vcpuN: stores zeros", 1);
}

export function zeroings(lines: Iterable<LogLine>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of lines) countZeroing(counts, line);
  return counts;
}

/** The "who zeroed, and why" table: one row per key in any column, one count column per run. */
export function zeroingTable(columns: readonly { label: string; counts: Map<string, number> }[]): string[] {
  const keys = [...new Set(columns.flatMap((c) => [...c.counts.keys()]))].sort();
  const width = Math.max(12, ...keys.map((k) => k.length));
  const row = (key: string, cells: string[]) =>
    `${key.padEnd(width)}${cells.map((c) => `  ${c.padStart(6)}`).join("")}`;
  const cells = (key: string) => columns.map((c) => String(c.counts.get(key) ?? 0));
  return [
    row(
      "who zeroed, and why",
      columns.map((c) => c.label),
    ),
    ...keys.map((k) => row(k, cells(k))),
  ];
}
