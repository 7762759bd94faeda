import { Option } from "commander";
import { ATTACKS } from "../adversaries/corpus/catalogue.ts";
import { type MatrixCell, PLATFORMS, POLICIES, runMatrix } from "../run/matrix.ts";
import { DEFAULT_SEED } from "../run/run.ts";
import { type CliIo, EXIT, parseArgs, parseSeed, processIo, subcommand } from "./io.ts";
import { TRANSPORTS } from "./transports.ts";

function table(cells: MatrixCell[]): string {
  const columns = PLATFORMS.flatMap((p) =>
    POLICIES.map((q) => ({ p, q, title: `${p === "tdx" ? "TDX" : "pKVM"} ${q}` })),
  );
  const titleWidth = Math.max(...ATTACKS.map((a) => a.title.length));
  const lines = [
    `${"id".padEnd(5)}${"attack".padEnd(titleWidth + 2)}${columns.map((c) => c.title.padEnd(20)).join("")}`,
  ];
  for (const attack of ATTACKS) {
    const row = columns.map(({ p, q }) => {
      const cell = cells.find((c) => c.attack === attack.id && c.platform === p && c.policy === q)!;
      return (cell.got === cell.expected ? cell.got : `${cell.got} (!= ${cell.expected})`).padEnd(20);
    });
    lines.push(`${attack.id.padEnd(5)}${attack.title.padEnd(titleWidth + 2)}${row.join("")}`);
  }
  const wrong = cells.filter((c) => c.got !== c.expected).length;
  lines.push("", `${cells.length} cells: ${cells.length - wrong} as predicted, ${wrong} not`);
  return `${lines.join("\n")}\n`;
}

export async function matrixCommand(argv: string[], io: CliIo = processIo): Promise<number> {
  const command = subcommand(
    "matrix",
    "run every attack against TDX and pKVM with the linux and naive guests",
    io,
  )
    .option("--seed <n>", "scheduler seed", parseSeed, DEFAULT_SEED)
    .option("--json", "print the cells as JSON")
    .addOption(
      new Option("--transport <transport>", "process: each attacking host in its own OS process")
        .choices(["inproc", "process"])
        .default("inproc"),
    );
  const stop = parseArgs(command, argv, io);
  if (stop !== undefined) return stop;
  const { seed, json, transport } = command.opts<{
    seed: number;
    json?: boolean;
    transport: "inproc" | "process";
  }>();
  const cells = await runMatrix(seed, TRANSPORTS[transport]);
  io.out(json ? `${JSON.stringify(cells, null, 2)}\n` : table(cells));
  return cells.every((c) => c.got === c.expected) ? EXIT.ok : EXIT.failed;
}
