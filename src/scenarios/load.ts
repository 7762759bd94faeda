// Finding a scenario by name or loading one from a file, with errors a user can act on.
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { z } from "zod";
import { ScenarioSpec } from "../../protocol/scenario.ts";
import type { Scenario } from "./define.ts";
import { findBuiltIn } from "./index.ts";

export type Loaded = { ok: true; scenario: Scenario } | { ok: false; error: string };

/** A built-in scenario name, or a path to a .json or .ts/.js/.mjs scenario file. */
export async function loadScenario(nameOrPath: string): Promise<Loaded> {
  const builtIn = findBuiltIn(nameOrPath);
  if (builtIn) return { ok: true, scenario: builtIn };
  const looksLikeFile =
    /\.(json|ts|mts|js|mjs)$/.test(nameOrPath) || nameOrPath.includes("/.") || nameOrPath.startsWith(".");
  if (!looksLikeFile) return { ok: false, error: `unknown scenario "${nameOrPath}" (see \`cocomem list\`)` };
  const path = resolve(nameOrPath);
  if (!existsSync(path)) return { ok: false, error: `no such scenario file: ${nameOrPath}` };
  if (path.endsWith(".json")) return fromJson(path);
  return fromModule(path);
}

function fromJson(path: string): Loaded {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    return { ok: false, error: `${path}: not valid JSON (${(error as Error).message})` };
  }
  return validate(path, data);
}

async function fromModule(path: string): Promise<Loaded> {
  let module: Record<string, unknown>;
  try {
    module = await import(pathToFileURL(path).href);
  } catch (error) {
    return { ok: false, error: `${path}: could not be loaded (${(error as Error).message.split("\n")[0]})` };
  }
  const exported = module.default ?? module.scenario;
  if (exported && typeof exported === "object" && "spec" in exported) {
    const spec = validate(path, (exported as Scenario).spec);
    if (!spec.ok) return spec;
    const check = (exported as Scenario).check;
    return { ok: true, scenario: check ? { spec: spec.scenario.spec, check } : spec.scenario };
  }
  return validate(path, exported);
}

function validate(path: string, data: unknown): Loaded {
  const parsed = ScenarioSpec.safeParse(data);
  if (parsed.success) return { ok: true, scenario: { spec: parsed.data } };
  return { ok: false, error: `${path}: invalid scenario: ${describeIssue(parsed.error)}` };
}

function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid";
  const where = issue.path.length > 0 ? issue.path.join(".") : "(top level)";
  return `${where}: ${issue.message}`;
}
