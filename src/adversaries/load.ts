// Loading an adversarial host from a file (`--host ./my-host.ts`), with errors a user can act on.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
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

/**
 * Why importing a module failed, in one line. A syntax error in a .ts file comes from esbuild (via
 * tsx) as "Transform failed with 1 error:" and, on the next line, "file:line:column: ERROR: text"
 * with a 0-based column: that line is the news, given here with a 1-based column as editors count.
 */
export function loadFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const [first, ...rest] = message.split("\n");
  if (/^(Transform|Build) failed with \d+ errors?:$/.test(first!)) {
    for (const line of rest) {
      const at = /^(.*):(\d+):(\d+): ERROR: (.*)$/.exec(line);
      if (at) return `${at[1]}:${at[2]}:${Number(at[3]) + 1}: ${at[4]}`;
    }
  }
  return first!;
}
