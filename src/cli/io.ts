// Where CLI commands write, so tests can capture output without touching the process.
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

export const processIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Exit codes: 0 as expected, 1 a violation or unmet expectation, 2 usage or input error. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** One line on stderr, no stack trace: the error a user sees for bad input. */
export function usageError(io: CliIo, message: string): number {
  io.err(`cocomem: ${message.split("\n")[0]}\n`);
  return EXIT.usage;
}
