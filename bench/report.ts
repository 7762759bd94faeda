// How bench figures are shown: one table on stdout, and the same figures, unrounded, as JSON.
import { writeFileSync } from "node:fs";
import type { Machine } from "./measure.ts";

export type Status = "PASS" | "BELOW" | "ABOVE";

export interface Row {
  metric: string;
  value: number;
  unit: string;
  /** The value as printed, with its unit. */
  shown: string;
  target?: string;
  status?: Status;
  /** Raw samples behind a best-of figure (e.g. each timed run in ms). */
  samples?: number[];
}

export interface Section {
  title: string;
  rows: Row[];
}

const group = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });

export const show = {
  count: (n: number, unit: string) => `${group.format(n)} ${unit}`,
  ms: (ms: number) => (ms < 100 ? `${ms.toFixed(2)} ms` : `${group.format(ms)} ms`),
  ratio: (r: number) => `${r.toFixed(2)}x`,
  perFrame: (bytes: number) => `${oneDecimal.format(bytes)} B/frame`,
  bytes(bytes: number): string {
    const sign = bytes < 0 ? "-" : "";
    const abs = Math.abs(bytes);
    if (abs >= 2 ** 20) return `${sign}${oneDecimal.format(abs / 2 ** 20)} MiB`;
    if (abs >= 2 ** 10) return `${sign}${oneDecimal.format(abs / 2 ** 10)} KiB`;
    return `${sign}${group.format(abs)} B`;
  },
};

const HEADERS = ["metric", "value", "target", "status"] as const;

function cells(row: Row): string[] {
  return [row.metric, row.shown, row.target ?? "", row.status ?? ""];
}

export function printReport(machine: Machine, sections: Section[], wallSeconds: number): void {
  const widths = HEADERS.map((h, i) =>
    Math.max(h.length, ...sections.flatMap((s) => s.rows.map((r) => cells(r)[i]!.length))),
  );
  const line = (parts: readonly string[]) =>
    parts.map((p, i) => (i === 1 ? p.padStart(widths[i]!) : p.padEnd(widths[i]!))).join("  ");
  const rule = "-".repeat(line(HEADERS).length);
  console.log(
    `\ncocomem bench — ${machine.cpu} (${machine.cores} cores), node ${machine.node}, ${machine.os}`,
  );
  console.log(rule);
  console.log(line(HEADERS));
  for (const section of sections) {
    console.log(rule);
    console.log(section.title);
    for (const row of section.rows) console.log(line(cells(row)).trimEnd());
  }
  console.log(rule);
  console.log(`bench wall time: ${wallSeconds.toFixed(1)} s`);
}

export function writeJson(path: string, machine: Machine, sections: Section[], wallSeconds: number): void {
  const record = {
    date: new Date().toISOString(),
    machine,
    wallSeconds,
    sections: sections.map(({ title, rows }) => ({
      title,
      rows: rows.map(({ shown: _shown, samples, ...row }) =>
        samples ? { ...row, samples: samples.map((ms) => Math.round(ms * 100) / 100) } : row,
      ),
    })),
  };
  writeFileSync(path, formatJson(record));
}

/** biome.json formatter.lineWidth. */
const LINE_WIDTH = 110;

/**
 * JSON laid out as Biome's formatter would (arrays of numbers on one line when they fit), so
 * `biome check .` in `npm test` stays clean while results.json sits untracked in the tree.
 */
function formatJson(value: unknown): string {
  const text = JSON.stringify(value, null, 2).replace(
    /^( *)(.*)\[\n((?: *-?[\d.e+-]+,?\n)+) *\]/gm,
    (whole, indent: string, head: string, body: string) => {
      const items = body
        .split("\n")
        .map((item) => item.trim().replace(/,$/, ""))
        .filter(Boolean);
      const line = `${indent}${head}[${items.join(", ")}]`;
      return line.length <= LINE_WIDTH ? line : whole;
    },
  );
  return `${text}\n`;
}

/** Progress goes to stderr, so stdout is only the table. */
export const progress = (what: string) => console.error(`bench: ${what}...`);
