// Where log lines go. A file log holds whole lines in a small buffer and writes them with a
// synchronous write when the buffer fills, on a short timer, at close and when the process exits
// (process.exit, an uncaught exception), and before each delivery to a plug-in host in this
// process (which may hang it), so the file only ever holds complete lines: a killed run loses at
// most the last buffer, never half a line. Writing each line on its own costs a system
// call per line, two to three times the cost of building the line.
import { closeSync, openSync, writeSync } from "node:fs";
import type { LogLine } from "../../protocol/log.ts";

export interface LogWriter {
  write(line: LogLine): void;
  /** Write out anything buffered, now. */
  flush?(): void;
  close(): void;
}

export class MemoryLog implements LogWriter {
  readonly lines: LogLine[] = [];
  write(line: LogLine): void {
    this.lines.push(line);
  }
  close(): void {}
}

/** Bytes (UTF-16 units) held before a write; and how long a line may wait for one, in ms. */
const FLUSH_AT = 64 * 1024;
const FLUSH_EVERY_MS = 100;

export class FileLog implements LogWriter {
  private fd: number | undefined;
  private buffer = "";
  private readonly timer: NodeJS.Timeout;
  private readonly onExit = () => this.flush();

  constructor(path: string) {
    this.fd = openSync(path, "w");
    // The orchestrator yields to the event loop every few hundred deliveries, so a reader following
    // the file sees a running log at most this far behind.
    this.timer = setInterval(this.onExit, FLUSH_EVERY_MS);
    this.timer.unref();
    process.on("exit", this.onExit);
  }

  write(line: LogLine): void {
    if (this.fd === undefined) return;
    this.buffer += `${JSON.stringify(line)}\n`;
    if (this.buffer.length >= FLUSH_AT) this.flush();
  }

  /** Write the buffered lines (whole lines only), now. */
  flush(): void {
    if (this.fd === undefined || this.buffer === "") return;
    const bytes = Buffer.from(this.buffer);
    this.buffer = "";
    for (let done = 0; done < bytes.length; ) done += writeSync(this.fd, bytes, done);
  }

  close(): void {
    if (this.fd === undefined) return;
    this.flush();
    clearInterval(this.timer);
    process.off("exit", this.onExit);
    closeSync(this.fd);
    this.fd = undefined;
  }
}

export class TeeLog implements LogWriter {
  constructor(private readonly writers: LogWriter[]) {}
  write(line: LogLine): void {
    for (const w of this.writers) w.write(line);
  }
  flush(): void {
    for (const w of this.writers) w.flush?.();
  }
  close(): void {
    for (const w of this.writers) w.close();
  }
}
