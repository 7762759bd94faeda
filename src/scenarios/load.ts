// Finding a scenario by name or loading one from a file, with errors a user can act on.
import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseScenario } from "../../protocol/scenario.ts";
import { loadFailure } from "../kit/import-error.ts";
import type { Scenario } from "./define.ts";
import { findBuiltIn } from "./index.ts";

export type Loaded = { ok: true; scenario: Scenario } | { ok: false; error: string };

/** A built-in scenario name, or a path to a .json or .ts/.js/.mjs scenario file. */
export async function loadScenario(nameOrPath: string): Promise<Loaded> {
  const builtIn = findBuiltIn(nameOrPath);
  if (builtIn) return { ok: true, scenario: builtIn };
  const path = resolve(nameOrPath);
  const kind = fileKind(path);
  if (kind === "directory") return { ok: false, error: `${nameOrPath} is a directory, not a scenario file` };
  const looksLikeFile =
    /\.(json|ts|mts|js|mjs)$/.test(nameOrPath) || nameOrPath.includes("/.") || nameOrPath.startsWith(".");
  if (!looksLikeFile) {
    if (kind === "file")
      return { ok: false, error: `${nameOrPath}: a scenario file ends in .json, .ts, .mts, .js or .mjs` };
    return { ok: false, error: `unknown scenario "${nameOrPath}" (see \`cocomem list\`)` };
  }
  if (kind === "missing") return { ok: false, error: `no such scenario file: ${nameOrPath}` };
  if (path.endsWith(".json")) return fromJson(path);
  return fromModule(path);
}

function fileKind(path: string): "file" | "directory" | "missing" {
  try {
    return statSync(path).isDirectory() ? "directory" : "file";
  } catch {
    return "missing";
  }
}

function fromJson(path: string): Loaded {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    return { ok: false, error: `${path}: cannot be read (${(error as Error).message})` };
  }
  let data: unknown;
  try {
    // A byte-order mark is what some editors put first in a UTF-8 file: not part of the JSON.
    data = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (error) {
    return { ok: false, error: `${path}: not valid JSON (${(error as Error).message.split("\n")[0]})` };
  }
  return validate(path, data);
}

async function fromModule(path: string): Promise<Loaded> {
  let module: Record<string, unknown>;
  try {
    module = await import(pathToFileURL(path).href);
  } catch (error) {
    return { ok: false, error: `${path}: could not be loaded (${loadFailure(error)})` };
  }
  const exported = module.default ?? module.scenario;
  if (exported && typeof exported === "object" && "spec" in exported) {
    const spec = validate(path, (exported as Scenario).spec);
    if (!spec.ok) return spec;
    const check = (exported as Scenario).check;
    return { ok: true, scenario: check ? { spec: spec.scenario.spec, check } : spec.scenario };
  }
  if (exported === undefined)
    return { ok: false, error: `${path}: exports no scenario (export default defineScenario({...}))` };
  return validate(path, exported);
}

function validate(path: string, data: unknown): Loaded {
  const parsed = parseScenario(data);
  if (parsed.ok) return { ok: true, scenario: { spec: parsed.spec } };
  return { ok: false, error: `${path}: invalid scenario: ${parsed.error}` };
}
