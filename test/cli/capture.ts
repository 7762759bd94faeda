// Run the `cocomem` CLI in-process with a capturing io: what a user would see, without a process.
import { expect } from "vitest";
import { main } from "../../src/cli/main.ts";

export interface Captured {
  code: number;
  out: string;
  err: string;
}

export async function cli(...argv: string[]): Promise<Captured> {
  let out = "";
  let err = "";
  const code = await main(argv, {
    out: (text) => {
      out += text;
    },
    err: (text) => {
      err += text;
    },
  });
  return { code, out, err };
}

/**
 * Assert a usage error as the CLI promises it: exit 2, nothing on stdout, exactly one line on
 * stderr starting with `prefix`, no stack trace. Returns the message (without prefix or newline).
 */
export function expectUsageError(result: Captured, prefix = "cocomem: "): string {
  expect(result.code, `exit code (stderr: ${result.err})`).toBe(2);
  expect(result.out).toBe("");
  expect(result.err).not.toContain("    at ");
  expect(result.err.startsWith(prefix), `stderr starts with "${prefix}": ${result.err}`).toBe(true);
  expect(result.err.endsWith("\n"), "stderr ends with a newline").toBe(true);
  expect(result.err.slice(0, -1), "stderr is one line").not.toContain("\n");
  return result.err.slice(prefix.length, -1);
}
