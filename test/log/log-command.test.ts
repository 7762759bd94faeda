import { readFile, writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConvertLog, convertLog, runLog as run } from "./fixture.ts";

let log: ConvertLog;
beforeAll(async () => {
  log = await convertLog();
});
afterAll(() => log.dispose());

describe("cocomem log", () => {
  it("should refuse a bad flag with exit 2 and one line on stderr", async () => {
    const result = await run(log.file, "--colour");
    expect(result).toEqual({ code: 2, out: "", err: "cocomem log: unknown option '--colour'\n" });
  });

  it("should refuse a bad address, party or limit with exit 2 and one line", async () => {
    for (const argv of [
      ["--gpa", "2Q"],
      ["--party", "hypervisor"],
      ["--limit", "0"],
      ["--page", "0x200000", "--format", "mermaid"],
    ]) {
      const result = await run(log.file, ...argv);
      expect(result.code).toBe(2);
      expect(result.out).toBe("");
      expect(result.err).toMatch(/^cocomem log: [^\n]+\n$/);
    }
  });

  it("should refuse a log of an older format with exit 2, saying which format this cocomem reads", async () => {
    const rows = (await readFile(log.file, "utf8")).split("\n");
    const header = JSON.parse(rows[0]!);
    const old = `${log.file}.v1`;
    await writeFile(
      old,
      [JSON.stringify({ ...header, format: 1, cocomem: "0.4.0" }), ...rows.slice(1)].join("\n"),
    );
    const result = await run(old);
    expect(result.code).toBe(2);
    expect(result.out).toBe("");
    expect(result.err).toBe(
      `cocomem log: ${old}:1: a log in format 1 (written by cocomem 0.4.0); this cocomem reads format 2: run the scenario again to get a log it can read\n`,
    );
  });

  it("should name the file and line of a malformed log, with exit 2", async () => {
    const rows = (await readFile(log.file, "utf8")).split("\n");
    rows[4] = rows[4]!.replace(/"seq":\d+/, '"seq":"five"');
    const broken = `${log.file}.broken`;
    await writeFile(broken, rows.join("\n"));
    const result = await run(broken, "--type", "sept");
    expect(result.code).toBe(2);
    expect(result.out).toBe("");
    expect(result.err).toMatch(new RegExp(`^cocomem log: ${broken.replace(/[.]/g, "\\.")}:5: [^\\n]+\\n$`));
  });

  it("should report an unreadable file with exit 2", async () => {
    const result = await run(`${log.file}.missing`);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/^cocomem log: .*\.missing: cannot read: ENOENT[^\n]*\n$/);
  });

  it("should print one compact line per matching log line", async () => {
    const result = await run(log.file, "--type", "TDH.MEM.PAGE.AUG", "--gpa", "0x200000", "--party", "host");
    expect(result.code).toBe(0);
    expect(result.err).toBe("");
    const seq = String.raw` +\d+`;
    expect(result.out.split("\n")).toEqual([
      expect.stringMatching(
        new RegExp(
          `^${seq}  host/kvm -> fw  request  TDH.MEM.PAGE.AUG gpa=0x200000 level=4K hpa=0x[0-9a-f]+$`,
        ),
      ),
      expect.stringMatching(
        new RegExp(`^${seq}  fw -> host/kvm  response  TDH.MEM.PAGE.AUG status=TDX_SUCCESS$`),
      ),
      expect.stringMatching(
        new RegExp(
          `^${seq}  host/kvm -> fw  request  TDH.MEM.PAGE.AUG gpa=0x200000 level=4K hpa=0x[0-9a-f]+$`,
        ),
      ),
      expect.stringMatching(
        new RegExp(`^${seq}  fw -> host/kvm  response  TDH.MEM.PAGE.AUG status=TDX_SUCCESS$`),
      ),
      "",
    ]);
    // Decimal addresses work the same.
    const decimal = await run(
      log.file,
      "--type",
      "TDH.MEM.PAGE.AUG",
      "--gpa",
      String(0x200000),
      "--party",
      "host",
    );
    expect(decimal.out).toBe(result.out);
  });

  it("should print effects with their actor, and JSON lines that are log lines", async () => {
    const text = await run(log.file, "--type", "sept", "--gpa", "0x200000", "--limit", "3");
    expect(text.out.split("\n")[2]).toMatch(
      /^ +\d+ {2}effect fw {2}sept gpa=0x200000 level=4K from=FREE to=PENDING hpa=0x/,
    );
    expect(text.err).toMatch(/^cocomem log: showing 3 of \d+ lines \(--limit\)\n$/);
    const json = await run(log.file, "--format", "json", "--type", "sept");
    const lines = json.out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toEqual(log.lines.filter((l) => l.type === "effect" && l.effect.e === "sept"));
  });

  it("should print a page timeline, as text or JSON", async () => {
    const text = await run(log.file, "--page", "0x800000200000");
    expect(text.code).toBe(0);
    const rows = text.out.split("\n");
    expect(rows[0]).toMatch(/^page 0x200000 \(\d+ entries\)$/);
    expect(rows).toContainEqual(
      expect.stringMatching(/^ +\d+ {2}fw +S-EPT 4K 0x200000: BLOCKED -> FREE hpa=0x/),
    );
    // The run's verdict ends the timeline (the fixture's last line, seq 226), not counted as an entry.
    expect(rows.at(-2)).toBe("  226  verdict       completed: workload complete, VM torn down");
    const json = await run(log.file, "--page", "0x200000", "--format", "json");
    const timeline = JSON.parse(json.out);
    expect(timeline.page).toBe(0x200000);
    expect(timeline.entries).toHaveLength(rows.length - 3);
    expect(timeline.verdict).toMatchObject({ seq: 226, by: "verdict" });
  });

  it("should draw a mermaid diagram capped by --limit", async () => {
    const result = await run(log.file, "--format", "mermaid", "--limit", "5");
    expect(result.code).toBe(0);
    const rows = result.out.trimEnd().split("\n");
    expect(rows[0]).toBe("sequenceDiagram");
    expect(rows.filter((r) => r.includes("->>"))).toHaveLength(5);
    expect(rows.at(-2)).toMatch(/: truncated after 5 messages, \d+ more \(--limit\)$/);
    // The verdict is drawn whatever the limit.
    expect(rows.at(-1)).toBe(
      "  Note over guest_vcpu0,fw: verdict completed: workload complete, VM torn down",
    );
  });
});
