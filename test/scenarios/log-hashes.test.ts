// Every built-in scenario (seeds 1, 2, 7) and every attack-matrix cell (seed 1) still writes the
// log recorded in test/fixtures/log-hashes.json, byte for byte: restructuring changes no behaviour.
import { describe, expect, it } from "vitest";
import { attackHashes, recordedHashes, scenarioHashes } from "../fixtures/log-hashes.ts";

describe("golden log hashes", () => {
  const recorded = recordedHashes();

  it("should reproduce the recorded log of every built-in scenario under seeds 1, 2 and 7", async () => {
    const now = await scenarioHashes();
    expect(now).toEqual(recorded.scenarios);
  });

  it("should reproduce the recorded log of every attack-matrix cell under seed 1", async () => {
    const now = await attackHashes();
    expect(now).toEqual(recorded.attacks);
  });
});
