// `cocomem log --page` on a large log must run in constant memory: the log is streamed, never
// held. A real run's log (a 4K lazy accept) is repeated, seq rising and ids made unique, into a
// file of about 1 GiB in a temporary directory (deleted afterwards); a child process reads it with
// `cocomem log --page`, and its peak RSS is compared with the same command on one copy of the log.
// COCOMEM_BENCH_LOG_MB sets the size (default 1024).

import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { logCommand } from "../src/cli/log-command.ts";
import { runScenario } from "../src/run/run.ts";
import { acceptScenario } from "./model.ts";
import { progress, type Section, show } from "./report.ts";

const TARGET_MB = Number(process.env.COCOMEM_BENCH_LOG_MB ?? 1024);
/**
 * Peak RSS on the big log at most this times the one on a single copy (50 times smaller): memory
 * does not grow with the log. The slack is V8's: under a steady stream of short-lived objects it
 * lets the heap grow a few tens of MiB before collecting (1.2x measured).
 */
const TARGET_RATIO = 1.5;
const PAGE = "0x200000";
/** Set in the child that runs `cocomem log`: the log file to read. */
const CHILD = "COCOMEM_BENCH_LOG_CHILD";
const SELF = fileURLToPath(import.meta.url);

interface Measured {
  ms: number;
  /** Peak resident set size of the child, in bytes. */
  rss: number;
  /** Bytes `cocomem log` printed. */
  printed: number;
}

/** In the child: run `cocomem log FILE --page PAGE`, then report time and peak RSS on stdout. */
async function child(file: string): Promise<void> {
  let printed = 0;
  const t0 = performance.now();
  const code = await logCommand([file, "--page", PAGE], {
    out: (text) => {
      printed += text.length;
    },
    err: (text) => process.stderr.write(text),
  });
  const ms = performance.now() - t0;
  if (code !== 0) process.exit(code);
  const measured: Measured = { ms, rss: process.resourceUsage().maxRSS * 1024, printed };
  process.stdout.write(`${JSON.stringify(measured)}\n`);
}

/** `cocomem log --page` on `file` in a fresh process (so its peak RSS is its own). */
function measure(file: string): Measured {
  const run = spawnSync(process.execPath, ["--import", "tsx", SELF], {
    env: { ...process.env, [CHILD]: file },
    encoding: "utf8",
    maxBuffer: 1 << 20,
  });
  if (run.status !== 0) throw new Error(`cocomem log on ${file}: exit ${run.status}: ${run.stderr}`);
  return JSON.parse(run.stdout) as Measured;
}

/**
 * Write `copies` copies of a log's body after its header, then its verdict: each copy's seq
 * continues from the last, and its ids (with the `re` and `causedBy` naming them) get a suffix.
 */
function repeatLog(source: string, target: string, copies: number): number {
  const rows = readFileSync(source, "utf8").trimEnd().split("\n");
  const header = rows[0]!;
  const verdict = rows.at(-1)!;
  const body = `${rows.slice(1, -1).join("\n")}\n`;
  const span = rows.length - 2;
  // The body cut at every seq (a number to fill in) and id (a string), so a copy is a join, not a
  // regex pass over the text.
  const parts: string[] = [];
  const fills: (number | string)[] = [];
  let last = 0;
  for (const m of body.matchAll(/"seq":(\d+)|"(?:id|re|causedBy)":"([^"]+)"/g)) {
    const [text, seq, id] = m;
    const at = m.index;
    parts.push(body.slice(last, at + text.indexOf(":") + 1));
    fills.push(seq !== undefined ? Number(seq) : id!);
    last = at + text.length;
  }
  const tail = body.slice(last);
  const fd = openSync(target, "w");
  try {
    writeSync(fd, `${header}\n`);
    for (let copy = 0; copy < copies; copy++) {
      const offset = copy * span;
      const pieces: string[] = [];
      for (let i = 0; i < parts.length; i++) {
        const fill = fills[i]!;
        pieces.push(parts[i]!, typeof fill === "number" ? String(fill + offset) : `"${fill}.${copy}"`);
      }
      pieces.push(tail);
      writeSync(fd, pieces.join(""));
    }
    writeSync(fd, `${verdict.replace(/"seq":\d+/, `"seq":${copies * span}`)}\n`);
  } finally {
    closeSync(fd);
  }
  return statSync(target).size;
}

export async function logStream(): Promise<Section> {
  const dir = mkdtempSync(join(tmpdir(), "cocomem-bench-log-"));
  try {
    const one = join(dir, "one.jsonl");
    const report = await runScenario(acceptScenario("1G", "16M", "4K", "4K"), {
      keepLog: false,
      logFile: one,
    });
    if (report.unmet.length > 0) throw new Error(`bench log scenario: ${report.unmet.join("; ")}`);
    const copies = Math.max(1, Math.round((TARGET_MB * 2 ** 20) / statSync(one).size));
    const big = join(dir, "big.jsonl");
    progress(`writing a ${TARGET_MB} MiB log (${copies} copies of a 4K lazy accept's log)`);
    const size = repeatLog(one, big, copies);
    progress("cocomem log --page on one copy, then on the whole log, each in its own process");
    const small = measure(one);
    const large = measure(big);
    const ratio = large.rss / small.rss;
    return {
      title: `cocomem log --page ${PAGE}: the log streamed, memory flat (child process, peak RSS)`,
      rows: [
        {
          metric: `log of ${show.bytes(size)} (${copies} copies of a ${show.bytes(statSync(one).size)} run log): time`,
          value: large.ms,
          unit: "ms",
          shown: show.ms(large.ms),
        },
        {
          metric: `peak RSS on it (one copy: ${show.bytes(small.rss)}, ${show.ms(small.ms)})`,
          value: large.rss,
          unit: "B",
          shown: `${show.bytes(large.rss)}: ${show.ratio(ratio)}`,
          target: `<= ${show.ratio(TARGET_RATIO)} (constant)`,
          status: ratio <= TARGET_RATIO ? "PASS" : "ABOVE",
        },
      ],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const childFile = process.env[CHILD];
if (childFile) await child(childFile);
