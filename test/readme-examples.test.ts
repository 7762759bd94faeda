// Every example in README.md, as written: each fenced shell command that runs cocomem is run
// (in-process, through the CLI's own `main`, in a scratch folder holding the files the README says
// to save), its exit code checked and its output compared with the sample the README shows under
// it; every TypeScript block is type-checked with the project's tsconfig; every JSON block is a
// valid scenario; every other output block is tied to the command that prints it. A README block
// this file does not know fails the test, so a new example cannot go unchecked.
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LogLine } from "../protocol/log.ts";
import { parseScenario } from "../protocol/scenario.ts";
import { tableHeader, tableRow, WORK_LEGEND } from "../src/cli/verdict.ts";
import { runScenario } from "../src/run/run.ts";
import { expectationFor } from "../src/scenarios/define.ts";
import { BUILT_IN, findBuiltIn } from "../src/scenarios/index.ts";
import { cli as runCli } from "./cli/capture.ts";
import { touchAfterMilestone } from "./fixtures/scenarios.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };

// ---------------------------------------------------------------------------------------------
// The README's fenced blocks

interface Block {
  lang: string;
  body: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The prose between the previous block and this one. */
  before: string;
  /** The block right after this one, if only blank lines separate them. */
  next?: Block;
}

function readmeBlocks(text: string): Block[] {
  const blocks: Block[] = [];
  const fence = /^```(\w*)\n([\s\S]*?)^```$/gm;
  let end = 0;
  for (let m = fence.exec(text); m; m = fence.exec(text)) {
    const block: Block = {
      lang: m[1]!,
      body: m[2]!,
      line: text.slice(0, m.index).split("\n").length,
      before: text.slice(end, m.index),
    };
    const previous = blocks.at(-1);
    if (previous && block.before.trim() === "") previous.next = block;
    blocks.push(block);
    end = m.index + m[0].length;
  }
  return blocks;
}

const blocks = readmeBlocks(readme);
const where = (block: Block) => `README.md:${block.line}`;

/** Shell lines the test does not run, each with the reason. */
const NOT_RUN: Record<string, string> = {
  "npm install && npm start":
    "installs, then runs every built-in (~20 s): its sample rows are checked scenario by scenario below",
  "npm test": "the whole suite (type-check, lint, layers, vitest): this test included, and minutes long",
};

/** A cocomem command line as the README writes it: its arguments, expected exit code, `| head -N`. */
interface Command {
  text: string;
  argv: string[];
  exit: number;
  head?: number;
}

function parseCommand(line: string): Command | undefined {
  const [code = "", comment = ""] = line.split(/\s+#\s*/, 2);
  const prefix = /^(?:npx cocomem|cocomem|npm run cocomem --)\s+/.exec(code);
  if (!prefix) return undefined;
  const [command = "", pipe] = code.slice(prefix[0].length).split(/\s*\|\s*/, 2);
  const head = pipe === undefined ? undefined : /^head(?: -(\d+))?$/.exec(pipe);
  if (pipe !== undefined && !head) throw new Error(`unsupported pipe in README command: ${line}`);
  return {
    text: code.trim(),
    argv: command.trim().split(/\s+/),
    exit: Number(/^exit (\d+)/.exec(comment)?.[1] ?? 0),
    ...(head ? { head: Number(head[1] ?? 10) } : {}),
  };
}

/** Files the README says to save ("save as `leak-check.json`"), from the block that follows. */
const saved = blocks.flatMap((block) => {
  const name = /save as `([^`]+)`[^`]*$/.exec(block.before)?.[1];
  return name ? [{ name, block }] : [];
});

// ---------------------------------------------------------------------------------------------
// Running the CLI in-process, in a scratch folder inside the package (so `cocomem/plugins`
// resolves from a plug-in there as it does from a user's file in the cocomem folder)

// One per process: two runs of the suite at once must not share (or delete) each other's files.
const dir = join(import.meta.dirname, `.tmp-readme-examples-${process.pid}`);
const cwd = process.cwd();

/** The CLI in-process with a capturing io (test/cli/capture.ts), given the command line as an array. */
const cli = (argv: string[]) => runCli(...argv);

const lines = (text: string) => text.replace(/\n$/, "").split("\n");

/**
 * The README's sample of an output: its lines, in order, with `...` for lines it leaves out. Each
 * run of lines between two `...` appears as consecutive lines of the output, in the same order;
 * a sample that does not start (end) with `...` shows the output's first (last) line.
 */
function expectSample(output: string, sample: string, context: string) {
  const got = lines(output).map((l) => l.trimEnd());
  const want = lines(sample).map((l) => l.trimEnd());
  const segments: string[][] = [[]];
  for (const line of want) {
    if (line === "...") segments.push([]);
    else segments.at(-1)!.push(line);
  }
  const openStart = want[0] === "...";
  const openEnd = want.at(-1) === "...";
  let from = 0;
  segments.forEach((segment, i) => {
    if (segment.length === 0) return;
    const fits = (at: number) => segment.every((line, k) => got[at + k] === line);
    let at = -1;
    if (i === 0 && !openStart) at = fits(0) ? 0 : -1;
    else if (i === segments.length - 1 && !openEnd) {
      const last = got.length - segment.length;
      at = last >= from && fits(last) ? last : -1;
    } else for (let k = from; k + segment.length <= got.length && at < 0; k++) if (fits(k)) at = k;
    expect(at, `${context}: the README's lines\n${segment.join("\n")}\nin the output\n${output}`).not.toBe(
      -1,
    );
    from = at + segment.length;
  });
}

let typeCheck: Promise<{ code: number; out: string }>;

beforeAll(() => {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const { name, block } of saved) writeFileSync(join(dir, name), block.body);
  // The project's own settings, over the README's TypeScript files only.
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({ extends: "../../tsconfig.json", include: ["*.ts"] }),
  );
  process.chdir(dir);
  // Type-checking takes a while: start it now, in its own process, and wait for it at the end.
  const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
  typeCheck = promisify(execFile)(process.execPath, [tsc, "--noEmit", "-p", join(dir, "tsconfig.json")], {
    cwd: ROOT,
  }).then(
    () => ({ code: 0, out: "" }),
    (error: { code?: number; stdout?: string }) => ({ code: error.code ?? 1, out: error.stdout ?? "" }),
  );
});

afterAll(() => {
  process.chdir(cwd);
  rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

describe("README: every block is checked", () => {
  it("should know every block: a command to run, a file to save, a sample of a known command", () => {
    const unknown = blocks.filter((block) => {
      if (block.lang === "sh" || block.lang === "json" || block.lang === "ts") return false;
      return (
        !OUTPUT_BLOCKS.some((known) => block.body.startsWith(known.startsWith)) && !isSampleOfShell(block)
      );
    });
    expect(unknown.map((b) => `${where(b)}: ${b.body.split("\n")[0]}`)).toEqual([]);
  });

  it("should run or explicitly skip every shell line", () => {
    const shell = blocks.filter((b) => b.lang === "sh").flatMap((b) => lines(b.body).map((l) => l.trim()));
    for (const line of shell) {
      if (line === "") continue;
      expect(line in NOT_RUN || parseCommand(line) !== undefined, `README shell line: ${line}`).toBe(true);
    }
    // The exclusions are lines the README has.
    for (const line of Object.keys(NOT_RUN)) expect(shell).toContain(line);
  });
});

/** A plain block right after a shell block: the output of that block's last command. */
function isSampleOfShell(block: Block): boolean {
  return blocks.some((b) => b.lang === "sh" && b.next === block);
}

describe("README: shell examples, run as written", () => {
  const shellBlocks = blocks.filter((b) => b.lang === "sh");
  for (const block of shellBlocks) {
    const commands = lines(block.body)
      .map((l) => l.trim())
      .flatMap((l) => {
        const command = parseCommand(l);
        return command ? [command] : [];
      });
    if (commands.length === 0) continue;
    it(`${where(block)}: ${commands.map((c) => c.text).join("; ")}`, async () => {
      for (const [i, command] of commands.entries()) {
        const result = await cli(command.argv);
        expect(result.code, `${command.text}: exit code (stderr: ${result.err})`).toBe(command.exit);
        const sample = block.next?.lang === "" && i === commands.length - 1 ? block.next : undefined;
        if (sample) {
          const output = command.head
            ? `${lines(result.out).slice(0, command.head).join("\n")}\n`
            : result.out;
          expectSample(output, sample.body, `${where(sample)} (${command.text})`);
        }
      }
    });
  }
});

describe("README: files it says to save", () => {
  it("should save the files the commands use", () => {
    expect(saved.map((s) => s.name).sort()).toEqual(["leak-check.json", "snoop.ts"]);
  });

  it("should have every JSON block a valid scenario", () => {
    for (const block of blocks.filter((b) => b.lang === "json")) {
      const parsed = parseScenario(JSON.parse(block.body));
      expect(parsed.ok ? "valid" : parsed.error, where(block)).toBe("valid");
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Output blocks not under a shell block: each with the command that prints it

const OUTPUT_BLOCKS: { startsWith: string; check: (body: string, block: Block) => Promise<void> | void }[] = [
  {
    // `npm start`: rows of the verdict table. Each row shown is its scenario's run, row for row.
    startsWith: "SEED=1\n",
    async check(body) {
      const [seed, header, ...rest] = lines(body);
      expect(seed).toBe("SEED=1");
      expect(header).toBe(tableHeader().trimEnd());
      const rows = rest.filter((l) => l !== "..." && l !== WORK_LEGEND && !/^\d+ scenarios:/.test(l));
      expect(rest).toContain(WORK_LEGEND);
      expect(rest.at(-1)).toBe(`${BUILT_IN.length} scenarios: ${BUILT_IN.length} as expected, 0 not`);
      for (const row of rows) {
        const scenario = findBuiltIn(row.split(" ")[0]!);
        expect(scenario, row).toBeDefined();
        const report = await runScenario(scenario!, { keepLog: scenario!.check !== undefined });
        const found = expectationFor(scenario!.spec, report.policy, report.profile);
        const expected = "expectation" in found ? found.expectation.outcome : "(none)";
        expect(tableRow(report, expected).trimEnd()).toBe(row);
      }
    },
  },
  {
    // Concepts: a violation beside the run's own ending, from the run-away fixture.
    startsWith: "outcome   violation: a page leaving the TD",
    async check(body) {
      const scenario = join(dir, "touch-after-milestone.json");
      writeFileSync(scenario, JSON.stringify(touchAfterMilestone));
      const plugin = join(ROOT, "test/fixtures/plugins/remove-behind-kvm.ts");
      expect(readme).toContain("`test/fixtures/plugins/remove-behind-kvm.ts`");
      const result = await cli(["run", scenario, "--host", plugin]);
      expect(result.code).toBe(1);
      for (const line of lines(body)) expect(result.out).toContain(`${line}\n`);
    },
  },
  {
    // The CLI synopsis: every option it names is one its command takes; help and version work.
    startsWith: "cocomem run SCENARIO|FILE",
    async check(body) {
      // A line that starts with blanks goes on from the one before.
      for (const line of body
        .replace(/\n\s+(?=\[)/g, " ")
        .replace(/\n$/, "")
        .split("\n")) {
        const [usage = ""] = line.split(/\s+#\s/, 1);
        const [, command = "", ...args] = usage.trim().split(/\s+/);
        if (command === "--version") {
          expect(await cli(["--version"])).toEqual({ code: 0, out: `cocomem ${pkg.version}\n`, err: "" });
          expect((await cli(["-V"])).out).toBe(`cocomem ${pkg.version}\n`);
          expect((await cli(["version"])).out).toBe(`cocomem ${pkg.version}\n`);
          continue;
        }
        if (command === "help") {
          expect(await cli(["help", "run"])).toEqual(await cli(["run", "--help"]));
          continue;
        }
        const help = await cli([command, "--help"]);
        expect(help.code, line).toBe(0);
        for (const option of args.join(" ").match(/--[a-z-]+/g) ?? [])
          expect(help.out, line).toContain(option);
      }
      // Every plug-in path the synopsis names is the one the README's prose uses.
      expect(body.match(/\.\/[\w-]+\.ts/g)?.every((p) => p === "./my-host.ts")).toBe(true);
    },
  },
  {
    startsWith: "stateDiagram-v2\n",
    async check(body, block) {
      expect(block.before).toContain("(`cocomem describe pkvm --format mermaid`");
      const result = await cli(["describe", "pkvm", "--format", "mermaid"]);
      expect(result.code).toBe(0);
      expectSample(result.out, body, "cocomem describe pkvm --format mermaid");
    },
  },
  {
    startsWith: "who zeroed, and why",
    async check(body) {
      const result = await cli(["compare"]);
      expect(result.code).toBe(0);
      expectSample(result.out, `...\n${body}...\n`, "cocomem compare");
    },
  },
  {
    startsWith: "id   attack",
    async check(body) {
      const result = await cli(["matrix"]);
      expect(result.code).toBe(0);
      expectSample(result.out, body, "cocomem matrix");
    },
  },
  {
    // Writing a scenario: validation errors, from the worked example with one field changed.
    startsWith: "cocomem: /path/to/leak-check.json: invalid scenario:",
    async check(body) {
      const example = JSON.parse(saved.find((s) => s.name === "leak-check.json")!.block.body);
      const readAt8M = structuredClone(example);
      readAt8M.guest.workload[0][4] = { op: "read", gpa: "8M" };
      const memory3K = structuredClone(example);
      memory3K.guest.memory = "3K";
      const errors: string[] = [];
      for (const variant of [readAt8M, memory3K]) {
        const file = join(dir, "invalid", "leak-check.json");
        mkdirSync(join(dir, "invalid"), { recursive: true });
        writeFileSync(file, JSON.stringify(variant));
        const result = await cli(["run", file]);
        expect(result.code).toBe(2);
        expect(result.out).toBe("");
        errors.push(result.err.replace(join(dir, "invalid"), "/path/to"));
      }
      expect(errors.join("")).toBe(body);
    },
  },
];

describe("README: output blocks, each printed by its command", () => {
  for (const known of OUTPUT_BLOCKS) {
    const block = blocks.find((b) => b.lang === "" && b.body.startsWith(known.startsWith));
    it(`${block ? where(block) : "missing"}: ${known.startsWith.trim()}`, async () => {
      expect(block, `a README block starting ${known.startsWith}`).toBeDefined();
      await known.check(block!.body, block!);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// What the prose says about those outputs

function readLog(name: string): LogLine[] {
  return lines(readFileSync(join(dir, name), "utf8")).map((l) => JSON.parse(l) as LogLine);
}

const effectsOf = (log: LogLine[], kind: string) =>
  log.flatMap((l) =>
    l.type === "effect" && l.effect.e === kind ? [l.effect as Record<string, unknown>] : [],
  );

describe("README: claims about the examples' output", () => {
  it("worked example: the host reads nothing, the guest reads zero from a fresh shared page", () => {
    const log = readLog("leak.jsonl");
    const reads = effectsOf(log, "read");
    expect(reads.map((r) => [r.by, r.content])).toEqual([["guest/vcpu0", { k: "zero" }]]);
    expect(log.at(-1)).toMatchObject({ type: "verdict", outcome: "completed", violations: 0 });
  });

  it("the log: JSON keeps addresses as numbers, statuses as hex strings; text prints hex", async () => {
    const log = readLog("leak.jsonl");
    expect(log[0]).toMatchObject({ type: "header", format: 2, scenario: "my/leak-check", seed: 1 });
    const accesses = effectsOf(log, "read").concat(effectsOf(log, "write"));
    for (const effect of accesses)
      expect([typeof effect.gpa, typeof effect.hpa]).toEqual(["number", "number"]);
    const statuses = log.flatMap((l) => (l.type === "msg" && "status" in l.msg ? [l.msg.status] : []));
    for (const status of statuses) expect(status).toMatch(/^0x[0-9a-f]{16}$/);
    const text = await cli(["log", "leak.jsonl", "--type", "write"]);
    expect(text.out).toMatch(/write hpa=0x[0-9a-f]+ gpa=0x[0-9a-f]+/);
  });

  it("the log: a log with no verdict line is read all the same, with a warning", async () => {
    writeFileSync("cut.jsonl", `${lines(readFileSync("leak.jsonl", "utf8")).slice(0, 100).join("\n")}\n`);
    const result = await cli(["log", "cut.jsonl", "--limit", "1"]);
    expect(result.code).toBe(0);
    expect(result.err).toContain("has no verdict line");
  });

  it("snoop on TDX: private frames read as ciphertext; plaintext only what the guest published; zero", () => {
    const reads = effectsOf(readLog("snoop.jsonl"), "read").filter((r) => String(r.by).startsWith("host/"));
    expect(reads.length).toBeGreaterThan(0);
    const kinds = new Set(
      reads.map((r) => {
        const content = r.content as { k: string; tag?: string; secret?: boolean };
        return content.k === "data" ? `data:${content.tag}${content.secret ? ":secret" : ""}` : content.k;
      }),
    );
    for (const kind of kinds) expect(kind).toMatch(/^(ciphertext|zero|data:public-\d+)$/);
    expect(kinds).toContain("ciphertext");
  });

  it("snoop on pkvm/share-unshare: the public request and reply, no abort", async () => {
    const report = await runScenario(findBuiltIn("pkvm/share-unshare")!, {
      hostPlugin: join(dir, "snoop.ts"),
    });
    expect(report.result.outcome).toBe("completed");
    expect(effectsOf(report.log as LogLine[], "fault")).toEqual([]);
    const tags = effectsOf(report.log as LogLine[], "read")
      .filter((r) => String(r.by).startsWith("host/"))
      .map((r) => (r.content as { tag?: string }).tag);
    expect(new Set(tags)).toEqual(new Set(["request", "reply"]));
  });

  it("the built-in tables list every built-in scenario with its expected outcome", () => {
    const rows = new Map(
      [...readme.matchAll(/^\| `((?:tdx|pkvm)\/[\w-]+)` +\|.*\| ([\w-]+) +\|$/gm)].map((m) => [m[1]!, m[2]!]),
    );
    expect([...rows.keys()].sort()).toEqual(BUILT_IN.map((s) => s.spec.name).sort());
    for (const scenario of BUILT_IN)
      expect(rows.get(scenario.spec.name), scenario.spec.name).toBe(scenario.spec.expect.outcome);
  });

  it("cocomem schema prints a draft 2020-12 JSON Schema", async () => {
    const result = await cli(["schema"]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.out).$schema).toBe("https://json-schema.org/draft/2020-12/schema");
  });
});

// Last, so the type-check started in beforeAll runs while the examples do.
describe("README: TypeScript blocks", () => {
  it("should type-check every TypeScript block with the project's tsconfig", async () => {
    const ts = blocks.filter((b) => b.lang === "ts");
    // Every TypeScript block is a file the README says to save (and so is in the scratch folder).
    expect(ts.every((b) => saved.some((s) => s.block === b))).toBe(true);
    const run = await typeCheck;
    expect(run.out).toBe("");
    expect(run.code).toBe(0);
  }, 120_000);
});
