// Where log lines go. A file log is written line by line with a synchronous write, so whatever
// happens next (a crashing plug-in, a killed process) the lines written so far are complete.
import { closeSync, openSync, writeSync } from "node:fs";
import type { LogLine } from "../../protocol/log.ts";

export interface LogWriter {
  write(line: LogLine): void;
  close(): void;
}

export class MemoryLog implements LogWriter {
  readonly lines: LogLine[] = [];
  write(line: LogLine): void {
    this.lines.push(line);
  }
  close(): void {}
}

export class FileLog implements LogWriter {
  private fd: number | undefined;
  constructor(path: string) {
    this.fd = openSync(path, "w");
  }
  write(line: LogLine): void {
    if (this.fd !== undefined) writeSync(this.fd, `${JSON.stringify(line)}\n`);
  }
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

export class TeeLog implements LogWriter {
  constructor(private readonly writers: LogWriter[]) {}
  write(line: LogLine): void {
    for (const w of this.writers) w.write(line);
  }
  close(): void {
    for (const w of this.writers) w.close();
  }
}
