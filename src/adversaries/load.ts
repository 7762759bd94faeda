// Loading an adversarial host from a file (`--host ./my-host.ts`), with errors a user can act on.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { loadFailure } from "../kit/import-error.ts";
import type { Adversary } from "./api.ts";

export type LoadedAdversary = { ok: true; adversary: Adversary } | { ok: false; error: string };

export async function loadAdversary(path: string): Promise<LoadedAdversary> {
  const file = resolve(path);
  if (!existsSync(file)) return { ok: false, error: `no such host plug-in: ${path}` };
  let module: Record<string, unknown>;
  try {
    module = await import(pathToFileURL(file).href);
  } catch (error) {
    return { ok: false, error: `${path}: could not be loaded (${loadFailure(error)})` };
  }
  const candidate = module.default as Partial<Adversary> | undefined;
  if (!candidate || typeof candidate !== "object" || typeof candidate.name !== "string") {
    return {
      ok: false,
      error: `${path}: the default export must be defineAdversary({ name, description, wrap | replace })`,
    };
  }
  const hasWrap = typeof candidate.wrap === "object" && candidate.wrap !== null;
  const hasReplace = typeof candidate.replace === "function";
  if (hasWrap === hasReplace)
    return { ok: false, error: `${path}: give exactly one of \`wrap\` or \`replace\`` };
  return { ok: true, adversary: candidate as Adversary };
}
