// `cocomem compare`: the same guest workload (write a secret, convert to shared, publish, convert
// back) on TDX and on pKVM, with who zeroed what on each: the seed thread's argument, side by side.
import { InvalidArgumentError } from "commander";
import type { GuestStepInput } from "../../protocol/scenario.ts";
import { zeroings as countZeroings, zeroingTable } from "../log/zeroings.ts";
import { DEFAULT_SEED, type RunReport, runScenario } from "../run/run.ts";
import { defineScenario } from "../scenarios/define.ts";
import { type CliIo, EXIT, parseArgs, parseSeed, processIo, subcommand } from "./io.ts";

const PAGE = 0x400000;

/** The shared workload: identical steps, only the platform differs. */
export const SIDE_BY_SIDE_WORKLOAD: GuestStepInput[] = [
  { op: "accept", gpa: PAGE, size: "4K", level: "4K" },
  { op: "write", gpa: PAGE, tag: "secret", secret: true },
  { op: "convert", gpa: PAGE, size: "4K", to: "shared" },
  { op: "write", gpa: PAGE, tag: "published", secret: false },
  { op: "post", value: 1 },
  { op: "convert", gpa: PAGE, size: "4K", to: "private" },
  { op: "read", gpa: PAGE },
];

export function sideBySide(platform: "tdx" | "pkvm", policy: "linux" | "naive") {
  return defineScenario({
    name: `compare/${platform}`,
    description: "write a secret, convert to shared, publish, convert back",
    platform,
    guest: { memory: "16M", policy, workload: [SIDE_BY_SIDE_WORKLOAD] },
    host: { onPost: [{ value: 1, do: [{ op: "read-shared", gpa: PAGE, size: "4K" }] }] },
    expect: { outcome: "completed" },
  });
}

/** Who zeroed how many pages, and why: "who zeroes what", from the run's zero effects. */
export const zeroings = (run: RunReport): Map<string, number> => countZeroings(run.log);

function report(runs: Record<"tdx" | "pkvm", RunReport>): string {
  const lines = [
    `workload: ${SIDE_BY_SIDE_WORKLOAD.map((s) => s.op).join(", ")} (guest policy ${runs.tdx.policy})`,
    "",
    ...zeroingTable([
      { label: "TDX", counts: zeroings(runs.tdx) },
      { label: "pKVM", counts: zeroings(runs.pkvm) },
    ]),
    "",
  ];
  for (const platform of ["tdx", "pkvm"] as const) {
    const r = runs[platform].result;
    const blame = r.violations.map((v) => `${v.invariant} (${v.responsible})`).join("; ");
    lines.push(`${platform.padEnd(5)} ${r.outcome}${blame ? `: ${blame}` : ""}`);
  }
  return `${lines.join("\n")}\n`;
}

export async function compareCommand(argv: string[], io: CliIo = processIo): Promise<number> {
  const command = subcommand(
    "compare",
    "run the same workload on TDX and pKVM and show who zeroed what on each",
    io,
  )
    .option(
      "--guest-policy <policy>",
      "linux or naive",
      (v) => {
        if (v !== "linux" && v !== "naive") throw new InvalidArgumentError("linux or naive");
        return v;
      },
      "linux",
    )
    .option("--seed <n>", "scheduler seed", parseSeed, DEFAULT_SEED);
  const stop = parseArgs(command, argv, io);
  if (stop !== undefined) return stop;
  const { guestPolicy, seed } = command.opts<{ guestPolicy: "linux" | "naive"; seed: number }>();
  const runs = {
    tdx: await runScenario(sideBySide("tdx", guestPolicy), { seed }),
    pkvm: await runScenario(sideBySide("pkvm", guestPolicy), { seed }),
  };
  io.out(report(runs));
  return EXIT.ok;
}
