// Typed effects: every line every built-in scenario logs parses against the protocol's own
// schemas (state names, zero reasons, fault kinds and lifecycle states are enums), and each
// platform logs its page-table changes under its own effect kind.
import { describe, expect, it } from "vitest";
import { Effect } from "../../protocol/index.ts";
import { LogLine } from "../../protocol/log.ts";
import { runScenario } from "../../src/run/run.ts";
import { BUILT_IN } from "../../src/scenarios/index.ts";

describe("typed effects", () => {
  for (const scenario of BUILT_IN) {
    it(`should log only schema-valid lines in ${scenario.spec.name}`, async () => {
      const run = await runScenario(scenario);
      for (const line of run.log) expect(LogLine.safeParse(line).success, JSON.stringify(line)).toBe(true);
      const kinds = new Set(run.log.flatMap((l) => (l.type === "effect" ? [l.effect.e] : [])));
      if (scenario.spec.platform === "pkvm") {
        expect(kinds.has("sept")).toBe(false);
        expect(kinds.has("stage2")).toBe(true);
      } else {
        expect(kinds.has("stage2")).toBe(false);
        expect(kinds.has("sept")).toBe(true);
      }
    });
  }

  it("should refuse a zero effect whose reason the model does not know", () => {
    const base = { e: "zero", by: "fw", hpa: 0x1000, pages: 1, keyId: 1 };
    expect(Effect.safeParse({ ...base, why: "TDG.MEM.PAGE.ACCEPT" }).success).toBe(true);
    expect(Effect.safeParse({ ...base, why: "ACCEPT" }).success).toBe(false);
  });

  it("should refuse S-EPT states in a pKVM stage-2 effect and pKVM states in an S-EPT one", () => {
    const stage2 = { e: "stage2", by: "fw", gpa: 0, level: 0, hpa: 0x1000 };
    expect(Effect.safeParse({ ...stage2, from: "PKVM_NOPAGE", to: "PKVM_PAGE_OWNED" }).success).toBe(true);
    expect(Effect.safeParse({ ...stage2, from: "FREE", to: "MAPPED" }).success).toBe(false);
    const sept = { e: "sept", by: "fw", gpa: 0, level: 0 };
    expect(Effect.safeParse({ ...sept, from: "PKVM_NOPAGE", to: "PKVM_PAGE_OWNED" }).success).toBe(false);
  });

  it("should say on a pKVM page leaving a guest whether the guest owned or shared it", async () => {
    const run = await runScenario(BUILT_IN.find((s) => s.spec.name === "pkvm/teardown")!);
    const leaving = run.log.flatMap((l) =>
      l.type === "effect" && l.effect.e === "owner" && l.effect.from === "guest" ? [l.effect.guestState] : [],
    );
    // pkvm/teardown: four guest-owned pages and one the guest shared come back.
    expect(leaving.filter((s) => s === "PKVM_PAGE_OWNED")).toHaveLength(4);
    expect(leaving.filter((s) => s === "PKVM_PAGE_SHARED_OWNED")).toHaveLength(1);
  });
});
