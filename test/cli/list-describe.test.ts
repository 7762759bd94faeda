import { describe, expect, it } from "vitest";
import { SEPT_TABLE, type SeptRule } from "../../actors/trusted/tdx/sept-table.ts";
import { SEPT_STATES } from "../../protocol/index.ts";
import { BUILT_IN } from "../../src/scenarios/index.ts";
import { cli } from "./capture.ts";

/** The text a legality cell should show for a rule (what the table is documented to print). */
function expectedCell(rule: SeptRule): string {
  if ("to" in rule) return `-> ${rule.to}`;
  if ("exit" in rule) return "TD exit (EPT violation)";
  return rule.status;
}

describe("cocomem list", () => {
  it("should list every built-in scenario by name", async () => {
    const result = await cli("list");
    expect(result.code).toBe(0);
    expect(result.err).toBe("");
    const names = result.out
      .split("\n")
      .filter((line) => line !== "" && !line.startsWith(" "))
      .map((line) => line.split(/\s+/)[0]);
    expect(names).toHaveLength(BUILT_IN.length);
    expect(names).toEqual(BUILT_IN.map((s) => s.spec.name));
    expect(result.out).toContain("tdx/punch-hole  [tdx, guest linux, expect vm-killed-by-host]");
  });

  it("should list the scenario specs as JSON with --json", async () => {
    const result = await cli("list", "--json");
    expect(result.code).toBe(0);
    const specs = JSON.parse(result.out) as { name: string }[];
    expect(specs.map((s) => s.name)).toEqual(BUILT_IN.map((s) => s.spec.name));
  });
});

describe("cocomem describe", () => {
  it("should print every S-EPT call, state and the size-mismatch status", async () => {
    const result = await cli("describe", "tdx");
    expect(result.code).toBe(0);
    expect(result.err).toBe("");
    for (const call of Object.keys(SEPT_TABLE)) expect(result.out).toContain(call);
    for (const state of SEPT_STATES) expect(result.out).toContain(state);
    expect(result.out).toContain("TDX_PAGE_SIZE_MISMATCH");
  });

  it("should print each legality row from SEPT_TABLE", async () => {
    const { out } = await cli("describe", "tdx");
    const section = out.split("== S-EPT legality")[1]?.split("== Status codes")[0];
    expect(section).toBeDefined();
    const rows = section!.split("\n");
    const header = rows.find((r) => r.startsWith("call "));
    expect(header?.split(/\s{2,}/)).toEqual(["call", "levels", "op states", ...SEPT_STATES]);
    for (const [call, spec] of Object.entries(SEPT_TABLE)) {
      const row = rows.find((r) => r.startsWith(`${call} `));
      expect(row, call).toBeDefined();
      for (const state of SEPT_STATES)
        expect(row, `${call} x ${state}`).toContain(expectedCell(spec.rules[state]));
      expect(row).toContain(spec.opStates.join(","));
    }
  });

  it("should print JSON whose legality is SEPT_TABLE itself", async () => {
    const result = await cli("describe", "tdx", "--format", "json");
    expect(result.code).toBe(0);
    const doc = JSON.parse(result.out);
    expect(doc.legality).toEqual(SEPT_TABLE);
    expect(doc.septStates).toEqual([...SEPT_STATES]);
    expect(doc.statuses.TDX_PAGE_SIZE_MISMATCH).toMatch(/^0x[0-9a-f]+$/);
    // One notation: the 16 hex digits the table and the log print (0.6.0 printed "0x0" here).
    expect(doc.statuses.TDX_SUCCESS).toBe("0x0000000000000000");
    expect(doc.statuses.TDX_OPERAND_BUSY).toBe("0x8000020000000000");
    expect(doc.messages.map((m: { name: string }) => m.name)).toContain("TDG.MEM.PAGE.ACCEPT");
  });

  it("should print markdown tables with --format markdown", async () => {
    const result = await cli("describe", "tdx", "--format", "markdown");
    expect(result.code).toBe(0);
    expect(result.out).toContain("## S-EPT legality");
    expect(result.out).toContain(`| call | levels | op states | ${SEPT_STATES.join(" | ")} |`);
  });
});

describe("cocomem help", () => {
  it("should print the usage with --help, -h, help or no arguments", async () => {
    for (const argv of [["--help"], ["-h"], ["help"], []]) {
      const result = await cli(...argv);
      expect(result.code, argv.join(" ")).toBe(0);
      expect(result.err).toBe("");
      expect(result.out).toContain("usage: cocomem <command> [options]");
      for (const command of ["run", "list", "log", "describe"]) expect(result.out).toContain(`  ${command} `);
    }
  });

  it("should print a command's usage with <command> --help", async () => {
    for (const command of ["run", "list", "describe", "log"]) {
      const result = await cli(command, "--help");
      expect(result.code, command).toBe(0);
      expect(result.err).toBe("");
      expect(result.out).toMatch(new RegExp(`^Usage: cocomem ${command} \\[options\\]`));
    }
  });
});
