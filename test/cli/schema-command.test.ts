// `cocomem schema` and scenario files through the CLI: the published JSON Schema is the one the
// zod definitions generate, the copy in schema/ is current, the built-in scenarios and the
// README's example satisfy it, and every invalid scenario file is exit 2 with one line.
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scenarioJsonSchema } from "../../protocol/scenario.ts";
import { BUILT_IN } from "../../src/scenarios/index.ts";
import { cli, expectUsageError } from "./capture.ts";

type Schema = Record<string, unknown>;

/**
 * A validator for the JSON Schema keywords the generated schema uses, and only those: an unknown
 * keyword fails the test rather than passing unchecked (no validator is a dependency here).
 */
function violations(root: Schema, schema: Schema, value: unknown, at = "$"): string[] {
  const out: string[] = [];
  const typeOf = (v: unknown) =>
    v === null ? "null" : Array.isArray(v) ? "array" : Number.isInteger(v) ? "integer" : typeof v;
  for (const [key, rule] of Object.entries(schema)) {
    switch (key) {
      case "$schema":
      case "$defs":
      case "title":
      case "description":
      case "default":
        break;
      case "$ref": {
        const name = /^#\/\$defs\/(.+)$/.exec(rule as string)![1]!;
        out.push(...violations(root, (root.$defs as Record<string, Schema>)[name]!, value, at));
        break;
      }
      case "type": {
        const t = typeOf(value);
        if (!(t === rule || (rule === "number" && t === "integer"))) out.push(`${at}: ${t}, not ${rule}`);
        break;
      }
      case "enum":
        if (!(rule as unknown[]).includes(value)) out.push(`${at}: not in enum`);
        break;
      case "const":
        if (value !== rule) out.push(`${at}: not ${String(rule)}`);
        break;
      case "pattern":
        if (typeof value === "string" && !new RegExp(rule as string, "u").test(value))
          out.push(`${at}: pattern`);
        break;
      case "minimum":
        if (typeof value === "number" && value < (rule as number)) out.push(`${at}: below minimum`);
        break;
      case "maximum":
        if (typeof value === "number" && value > (rule as number)) out.push(`${at}: above maximum`);
        break;
      case "multipleOf":
        if (typeof value === "number" && value % (rule as number) !== 0) out.push(`${at}: not a multiple`);
        break;
      case "minItems":
        if (Array.isArray(value) && value.length < (rule as number)) out.push(`${at}: too few items`);
        break;
      case "items":
        if (Array.isArray(value))
          value.forEach((item, i) => {
            out.push(...violations(root, rule as Schema, item, `${at}[${i}]`));
          });
        break;
      case "required":
        if (typeOf(value) === "object")
          for (const name of rule as string[])
            if (!(name in (value as object))) out.push(`${at}.${name}: missing`);
        break;
      case "properties":
        if (typeOf(value) === "object")
          for (const [name, sub] of Object.entries(rule as Record<string, Schema>))
            if ((value as Record<string, unknown>)[name] !== undefined)
              out.push(...violations(root, sub, (value as Record<string, unknown>)[name], `${at}.${name}`));
        break;
      case "propertyNames":
        if (typeOf(value) === "object")
          for (const name of Object.keys(value as object))
            out.push(...violations(root, rule as Schema, name, `${at}{${name}}`));
        break;
      case "additionalProperties":
        if (typeOf(value) === "object") {
          const known = Object.keys((schema.properties as object | undefined) ?? {});
          for (const [name, v] of Object.entries(value as object)) {
            if (known.includes(name)) continue;
            if (rule === false) out.push(`${at}.${name}: not allowed`);
            else out.push(...violations(root, rule as Schema, v, `${at}.${name}`));
          }
        }
        break;
      case "anyOf":
      case "oneOf": {
        const matching = (rule as Schema[]).filter((s) => violations(root, s, value, at).length === 0).length;
        if (key === "anyOf" ? matching === 0 : matching !== 1) out.push(`${at}: ${matching} of ${key} match`);
        break;
      }
      default:
        throw new Error(`the test validator does not know the keyword ${key} (at ${at})`);
    }
  }
  return out;
}

const schema = scenarioJsonSchema();
const validate = (value: unknown) => violations(schema, schema, value);

const VALID = {
  name: "test/schema",
  description: "",
  platform: "tdx",
  guest: { memory: "8M", workload: [[{ op: "accept", gpa: "2M", size: "2M" }]] },
  expect: { outcome: "completed" },
};

describe("cocomem schema", () => {
  it("should print the JSON Schema generated from the scenario definitions", async () => {
    const result = await cli("schema");
    expect(result.code).toBe(0);
    expect(result.err).toBe("");
    expect(JSON.parse(result.out)).toEqual(schema);
    expect(schema.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
  });

  it("should match the copy in schema/scenario.schema.json (regenerate: cocomem schema > it, then biome format)", async () => {
    const committed = JSON.parse(
      await readFile(new URL("../../schema/scenario.schema.json", import.meta.url), "utf8"),
    );
    expect(committed).toEqual(schema);
  });

  it("should refuse arguments", async () => {
    expectUsageError(await cli("schema", "extra"));
  });

  it("should describe every field of a scenario", () => {
    const undescribed: string[] = [];
    const walk = (node: unknown, at: string) => {
      if (node === null || typeof node !== "object") return;
      const s = node as Schema;
      for (const [name, sub] of Object.entries((s.properties ?? {}) as Record<string, Schema>)) {
        const described = typeof sub.description === "string" || typeof sub.$ref === "string";
        if (!described && name !== "op") undescribed.push(`${at}.${name}`);
        walk(sub, `${at}.${name}`);
      }
      for (const key of ["items", "additionalProperties"]) walk(s[key], `${at}[]`);
      for (const sub of [...((s.anyOf ?? []) as Schema[]), ...((s.oneOf ?? []) as Schema[])])
        walk(sub, `${at}|`);
      for (const [name, sub] of Object.entries((s.$defs ?? {}) as object)) walk(sub, `#${name}`);
    };
    walk(schema, "");
    expect(undescribed).toEqual([]);
  });
});

describe("the published JSON Schema against scenarios", () => {
  it("should take every built-in scenario", () => {
    for (const { spec } of BUILT_IN) expect(validate(spec), spec.name).toEqual([]);
  });

  it("should take the README's worked example, and a file that names the schema", async () => {
    const readme = await readFile(new URL("../../README.md", import.meta.url), "utf8");
    const example = JSON.parse(/```json\n([\s\S]*?)```/.exec(readme)![1]!);
    expect(validate(example)).toEqual([]);
    expect(validate({ $schema: "../schema/scenario.schema.json", ...VALID })).toEqual([]);
  });

  it("should refuse what it can express: a bad size string, a page count of 5000, an unknown field or step", () => {
    const guest = (g: object) => ({ ...VALID, guest: { ...VALID.guest, ...g } });
    expect(validate(guest({ memory: "3Q" }))).not.toEqual([]);
    expect(validate(guest({ memory: 5000 }))).not.toEqual([]);
    expect(validate({ ...VALID, colour: "blue" })).not.toEqual([]);
    expect(validate(guest({ workload: [[{ op: "frobnicate" }]] }))).not.toEqual([]);
    expect(validate(guest({ vcpus: 513 }))).not.toEqual([]);
  });
});

describe("invalid scenario files through cocomem run", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "cocomem-schema-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const guest = (g: object) => JSON.stringify({ ...VALID, guest: { ...VALID.guest, ...g } });
  const read = (gpa: unknown) => guest({ workload: [[{ op: "read", gpa }]] });
  const cases: [string, string, RegExp][] = [
    ["read-beyond", read("16M"), /guest\.workload\[0\]\[0\]\.gpa: 0x1000000 is outside guest memory/],
    [
      "accept-beyond",
      guest({ workload: [[{ op: "accept", gpa: "6M", size: "4M" }]] }),
      /guest\.workload\[0\]\[0\]\.size: 0x400000 from 0x600000 runs past the end of guest memory/,
    ],
    ["memory-300t", guest({ memory: "300T" }), /guest\.memory: 0x12c0000000000 \(300T\) is more than/],
    ["memory-3k", guest({ memory: "3K" }), /guest\.memory: "3K" \(0xc00\) is not a whole number of 4K pages/],
    ["memory-0", guest({ memory: 0 }), /guest\.memory: 0 is empty/],
    ["memory-5000", guest({ memory: "5000" }), /guest\.memory: "5000" \(0x1388\) is not a whole number/],
    ["hex-65-bits", read("0x10000000000000000"), /gpa: "0x10000000000000000" is beyond 64 bits/],
    ["decimal-77-bits", read("99999999999999999999999"), /gpa: "99999999999999999999999" is beyond 64 bits/],
    ["number-1e30", read(1e30), /gpa: 1e\+30 is beyond 64 bits/],
    ["vcpus-513", guest({ vcpus: 513 }), /guest\.vcpus: 513: Too big/],
    ["size-text", read("2Q"), /gpa: "2Q" is not a size/],
  ];
  for (const [name, content, message] of cases)
    it(`should exit 2 with one line for ${name}`, async () => {
      const path = join(dir, `${name}.json`);
      await writeFile(path, content);
      expect(expectUsageError(await cli("run", path))).toMatch(message);
    });

  it("should run a file that starts with a byte-order mark", async () => {
    const path = join(dir, "bom.json");
    await writeFile(path, `\ufeff${JSON.stringify(VALID)}`);
    const result = await cli("run", path);
    expect(result.err).toBe("");
    expect(result.code).toBe(0);
  });

  it("should exit 2 with one line for a directory", async () => {
    const path = join(dir, "a-directory");
    await mkdir(path);
    expect(expectUsageError(await cli("run", path))).toBe(`${path} is a directory, not a scenario file`);
  });
});
