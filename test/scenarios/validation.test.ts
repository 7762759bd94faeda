// Scenario validation (issue 11): every GPA and range inside guest memory, sizes in whole pages,
// memory within the platform's address space, numbers within 64 bits (and what the model holds
// exactly) however written, vCPUs bounded, and each problem as one line naming the field and
// the value as written.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  formatBytes,
  MAX_VCPUS,
  PKVM_GUEST_MEMORY_MAX,
  parseScenario,
  parseSize,
  TDX_GUEST_MEMORY_MAX,
} from "../../protocol/scenario.ts";
import { defineScenario } from "../../src/scenarios/define.ts";
import { BUILT_IN } from "../../src/scenarios/index.ts";
import { loadScenario } from "../../src/scenarios/load.ts";

type Json = Record<string, unknown>;

/** A valid TDX scenario with 8M of memory; `guest` and `host` fields replace the defaults. */
function scenario(guest: Json = {}, top: Json = {}): Json {
  return {
    name: "test/validation",
    description: "",
    platform: "tdx",
    guest: { memory: "8M", workload: [[{ op: "accept", gpa: "2M", size: "2M" }]], ...guest },
    expect: { outcome: "completed" },
    ...top,
  };
}
const steps = (...list: Json[]) => ({ workload: [list] });

/** The one-line error for data, failing if it validates. */
function errorOf(data: unknown): string {
  const parsed = parseScenario(data);
  if (parsed.ok) throw new Error("expected the scenario to be refused");
  expect(parsed.error).not.toContain("\n");
  return parsed.error;
}

describe("scenario validation: GPAs and ranges inside guest memory", () => {
  it("should refuse a read beyond guest memory, naming the step and the GPA", () => {
    expect(errorOf(scenario(steps({ op: "read", gpa: "16M" })))).toBe(
      "guest.workload[0][0].gpa: 0x1000000 is outside guest memory [0, 0x800000)",
    );
  });

  it("should refuse a GPA at the end of guest memory, and take the last byte", () => {
    expect(errorOf(scenario(steps({ op: "write", gpa: "8M", tag: "t" })))).toContain(
      "is outside guest memory",
    );
    expect(parseScenario(scenario(steps({ op: "write", gpa: 0x7fffff, tag: "t" }))).ok).toBe(true);
  });

  it("should refuse an accept that runs past the end of guest memory", () => {
    expect(errorOf(scenario(steps({ op: "accept", gpa: "6M", size: "4M" })))).toBe(
      "guest.workload[0][0].size: 0x400000 from 0x600000 runs past the end of guest memory [0, 0x800000)",
    );
  });

  it("should check every vCPU's steps, a consume's bounce page and the host's actions", () => {
    const two = { vcpus: 2, workload: [[], [{ op: "zero", gpa: "4M", size: "8M" }]] };
    expect(errorOf(scenario(two))).toMatch(/^guest\.workload\[1\]\[0\]\.size: /);
    expect(errorOf(scenario(steps({ op: "consume", gpa: "1M", bounce: "9M" })))).toBe(
      "guest.workload[0][0].bounce: 0x900000 is outside guest memory [0, 0x800000)",
    );
    const host = {
      onPost: [
        {
          value: 1,
          do: [
            { op: "read-shared", gpa: "2M", size: "4K" },
            { op: "unmap", gpa: "1G" },
          ],
        },
      ],
    };
    expect(errorOf(scenario({}, { host }))).toBe(
      "host.onPost[0].do[1].gpa: 0x40000000 is outside guest memory [0, 0x800000)",
    );
  });

  it("should refuse an image larger than guest memory", () => {
    const image = { pages: Array.from({ length: 3 }, (_, i) => `p${i}`) };
    expect(errorOf(scenario({ memory: "8K", workload: [[]], image }))).toBe(
      "guest.image.pages: 3 pages (0x3000) do not fit in guest memory [0, 0x2000)",
    );
  });
});

describe("scenario validation: guest memory", () => {
  it("should refuse 300T on TDX: past the shared bit (bit 47 at GPAW 48)", () => {
    expect(errorOf(scenario({ memory: "300T" }))).toBe(
      "guest.memory: 0x12c0000000000 (300T) is more than 0x800000000000 (128T): a TD's private GPAs end at the shared bit, bit 47 with the GPAW 48 the VMM asks for",
    );
  });

  it("should take memory up to the shared bit on TDX and up to the 40-bit IPA space on pKVM", () => {
    expect(TDX_GUEST_MEMORY_MAX).toBe(2 ** 47);
    expect(PKVM_GUEST_MEMORY_MAX).toBe(2 ** 40);
    expect(parseScenario(scenario({ memory: "128T" })).ok).toBe(true);
    expect(parseScenario(scenario({ memory: "1T" }, { platform: "pkvm" })).ok).toBe(true);
    expect(errorOf(scenario({ memory: "2T" }, { platform: "pkvm" }))).toBe(
      "guest.memory: 0x20000000000 (2T) is more than 0x10000000000 (1T): the VM's IPA space is the default 40 bits the VMM asks for (KVM_CREATE_VM type 0)",
    );
  });

  it('should refuse "3K", 0 and "5000" in the schema, naming memory', () => {
    expect(errorOf(scenario({ memory: "3K" }))).toBe(
      'guest.memory: "3K" (0xc00) is not a whole number of 4K pages',
    );
    expect(errorOf(scenario({ memory: 0 }))).toBe("guest.memory: 0 is empty: give at least one 4K page");
    expect(errorOf(scenario({ memory: "5000" }))).toBe(
      'guest.memory: "5000" (0x1388) is not a whole number of 4K pages',
    );
  });
});

describe("scenario validation: sizes in whole pages", () => {
  it("should refuse an accept of part of a page, saying it does not round as Linux does", () => {
    expect(errorOf(scenario(steps({ op: "accept", gpa: "2M", size: "6K" })))).toBe(
      'guest.workload[0][0].size: "6K" (0x1800) is not a whole number of 4K pages (the model does not round; Linux\'s accept_memory() would round the range out to whole 2M units)',
    );
    expect(errorOf(scenario(steps({ op: "accept", gpa: "0x1800", size: "4K" })))).toMatch(
      /^guest\.workload\[0\]\[0\]\.gpa: "0x1800" \(0x1800\) is not 4K-aligned/,
    );
  });

  it("should refuse ranges that are empty or not whole pages in every step and action", () => {
    expect(errorOf(scenario(steps({ op: "convert", gpa: "2M", size: 0, to: "shared" })))).toBe(
      "guest.workload[0][0].size: 0 is empty: give at least one 4K page",
    );
    expect(errorOf(scenario(steps({ op: "zero", gpa: 100, size: "4K" })))).toMatch(
      /gpa: 100 is not 4K-aligned/,
    );
    const host = { onPost: [{ value: 1, do: [{ op: "punch-hole", gpa: "2M", size: 5000 }] }] };
    expect(errorOf(scenario({}, { host }))).toBe(
      "host.onPost[0].do[0].size: 5000 is not a whole number of 4K pages",
    );
  });

  it("should take byte addresses for single accesses", () => {
    expect(parseScenario(scenario(steps({ op: "read", gpa: "0x200010" })))).toMatchObject({ ok: true });
  });
});

describe("scenario validation: numbers within 64 bits, however written", () => {
  it("should refuse strings beyond 64 bits, hex or decimal, as it refuses 1e30", () => {
    for (const gpa of [
      "0x10000000000000000",
      "99999999999999999999999",
      "18446744073709551616",
      "16777216T",
      1e30,
    ])
      expect(errorOf(scenario(steps({ op: "read", gpa })))).toBe(
        `guest.workload[0][0].gpa: ${typeof gpa === "string" ? `"${gpa}"` : "1e+30"} is beyond 64 bits`,
      );
  });

  it("should refuse 64-bit values past 2^53 - 1, which a JavaScript number cannot hold exactly", () => {
    for (const gpa of ["0xffffffffffffffff", "9007199254740992", "8192T", 2 ** 60])
      expect(errorOf(scenario(steps({ op: "read", gpa })))).toMatch(
        /^guest\.workload\[0\]\[0\]\.gpa: .* is beyond 2\^53 - 1, the largest number the model holds exactly/,
      );
  });

  it("should read decimal, hex and unit strings alike", () => {
    for (const text of ["2097152", "0x200000", "0x200000", "2048K", "2M"])
      expect(parseSize(text)).toEqual({ value: 2 ** 21 });
    expect(parseSize(2 ** 21)).toEqual({ value: 2 ** 21 });
    expect(parseSize("9007199254740991")).toEqual({ value: Number.MAX_SAFE_INTEGER });
  });

  it("should say what is wrong with a size that is not one", () => {
    expect(errorOf(scenario(steps({ op: "read", gpa: "2Q" })))).toBe(
      'guest.workload[0][0].gpa: "2Q" is not a size: write a number, "0x1000", or a count of K, M, G or T ("4K", "2M")',
    );
    expect(errorOf(scenario(steps({ op: "read", gpa: -4096 })))).toBe(
      "guest.workload[0][0].gpa: -4096 is negative",
    );
    expect(errorOf(scenario(steps({ op: "read", gpa: 4096.5 })))).toBe(
      "guest.workload[0][0].gpa: 4096.5 is not a whole number of bytes",
    );
    expect(errorOf(scenario(steps({ op: "read", gpa: true })))).toBe(
      'guest.workload[0][0].gpa: true is not a size: a number or a string like "0x1000", "4K", "2M"',
    );
  });

  it("should bound POST codes to 32 bits, naming the value", () => {
    expect(errorOf(scenario(steps({ op: "post", value: 2 ** 32 })))).toBe(
      "guest.workload[0][0].value: 4294967296: Too big: expected number to be <=4294967295",
    );
  });
});

describe("scenario validation: vCPUs", () => {
  it(`should take 1 to ${MAX_VCPUS} vCPUs, one list of steps each`, () => {
    const lists = (n: number) => Array.from({ length: n }, () => []);
    expect(parseScenario(scenario({ vcpus: MAX_VCPUS, workload: lists(MAX_VCPUS) })).ok).toBe(true);
    expect(errorOf(scenario({ vcpus: MAX_VCPUS + 1, workload: lists(MAX_VCPUS + 1) }))).toBe(
      `guest.vcpus: ${MAX_VCPUS + 1}: Too big: expected number to be <=${MAX_VCPUS}`,
    );
    expect(errorOf(scenario({ vcpus: 0 }))).toMatch(/^guest\.vcpus: 0: Too small/);
  });

  it("should refuse a workload without one list per vCPU (the run would stall)", () => {
    expect(errorOf(scenario({ vcpus: 2 }))).toBe(
      "guest.workload: 1 list of steps for 2 vCPUs (guest.vcpus): give one list per vCPU, [] for an idle one",
    );
    expect(errorOf(scenario({ workload: [[], []] }))).toBe(
      "guest.workload: 2 lists of steps for 1 vCPU (guest.vcpus): give one list per vCPU, [] for an idle one",
    );
  });
});

describe("scenario validation: one line for every other mistake", () => {
  it("should name an unknown step, an unknown field and a missing one", () => {
    expect(errorOf(scenario(steps({ op: "frobnicate", gpa: 0 })))).toBe(
      'guest.workload[0][0].op: "frobnicate" is not one of accept, write, read, convert, consume, free, alloc, dma-alloc, zero, post',
    );
    expect(errorOf(scenario({}, { colour: "blue" }))).toBe('(top level): unknown field "colour"');
    expect(errorOf(scenario({ memory: undefined }))).toBe(
      'guest.memory: missing: a number or a string like "0x1000", "4K", "2M"',
    );
    expect(errorOf(scenario({}, { description: undefined }))).toBe("description: missing (string)");
  });

  it("should let defineScenario throw the same one line", () => {
    expect(() => defineScenario(scenario({ memory: "3K" }) as never)).toThrow(
      'invalid scenario "test/validation": guest.memory: "3K" (0xc00) is not a whole number of 4K pages',
    );
  });
});

describe("built-in scenarios under the validation", () => {
  for (const { spec } of BUILT_IN)
    it(`should still validate ${spec.name}, to the same spec`, () => {
      const parsed = parseScenario(spec);
      expect(parsed).toEqual({ ok: true, spec });
    });

  it("should show sizes in hex with their unit", () => {
    expect(formatBytes(0x800000)).toBe("0x800000 (8M)");
    expect(formatBytes(0x1800)).toBe("0x1800 (6K)");
    expect(formatBytes(0x1001)).toBe("0x1001");
  });
});

describe("loading scenario files", () => {
  let dir: string;
  const valid = JSON.stringify(scenario());
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "cocomem-validation-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("should tolerate a byte-order mark at the start of a JSON file", async () => {
    const path = join(dir, "bom.json");
    await writeFile(path, `\ufeff${valid}`);
    const loaded = await loadScenario(path);
    expect(loaded.ok && loaded.scenario.spec.name).toBe("test/validation");
  });

  it("should say a directory is a directory, with or without a scenario-like name", async () => {
    for (const name of ["scenarios", "scenarios.json"]) {
      const path = join(dir, name);
      await mkdir(path);
      expect(await loadScenario(path)).toEqual({
        ok: false,
        error: `${path} is a directory, not a scenario file`,
      });
    }
  });

  it("should say a file without a scenario extension is not one", async () => {
    const path = join(dir, "notes");
    await writeFile(path, valid);
    expect(await loadScenario(path)).toEqual({
      ok: false,
      error: `${path}: a scenario file ends in .json, .ts, .mts, .js or .mjs`,
    });
  });

  it("should say what a file that is no scenario is", async () => {
    const array = join(dir, "array.json");
    await writeFile(array, "[]");
    expect(await loadScenario(array)).toEqual({
      ok: false,
      error: `${array}: invalid scenario: (top level): an array is not an object`,
    });
    const module = join(dir, "nothing.mjs");
    await writeFile(module, "export const x = 1;\n");
    expect(await loadScenario(module)).toEqual({
      ok: false,
      error: `${module}: exports no scenario (export default defineScenario({...}))`,
    });
  });

  it("should name the file and the field for an invalid one", async () => {
    const path = join(dir, "big.json");
    await writeFile(path, JSON.stringify(scenario({ memory: "300T" })));
    const loaded = await loadScenario(path);
    expect(loaded.ok ? "" : loaded.error).toMatch(
      new RegExp(
        `^${path.replace(/[.]/g, "\\.")}: invalid scenario: guest\\.memory: 0x12c0000000000 \\(300T\\) is more than`,
      ),
    );
  });
});
