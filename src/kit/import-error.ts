// Why importing a user's module (a host plug-in, a scenario file) failed, in one line a user can
// act on. Shared by both loaders.

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
