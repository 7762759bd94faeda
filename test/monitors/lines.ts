// Hand-built log lines for monitor tests. Each line is checked against the log schema, so a test
// never feeds a monitor something a real run could not log.
import { type Content, type Effect, EffectLine, Envelope, schemaFor } from "../../protocol/index.ts";
import type { LogLine } from "../../protocol/log.ts";
import type { Finding, Monitor } from "../../src/monitors/index.ts";

/** The shared bit of a TD with GPAW 48 (bit 47), the default. */
export const SHARED_48 = 2 ** 47;

export const ZERO: Content = { k: "zero" };
export const guestData = (tag: string, secret = false): Content => ({
  k: "data",
  writer: "guest",
  tag,
  secret,
});
export const hostData = (tag: string): Content => ({ k: "data", writer: "host", tag, secret: false });

export function effect(seq: number, e: Effect): LogLine {
  const line: EffectLine = { type: "effect", seq, effect: e };
  EffectLine.parse(line);
  return line;
}

/** The TDG.VP.INFO answer that tells everyone the GPA width, hence the shared bit. */
export function vpInfo(seq: number, gpaWidth: 48 | 52): LogLine {
  const line: LogLine = {
    type: "msg",
    seq,
    id: `info-${seq}`,
    from: "fw",
    to: "guest/vcpu0",
    kind: "response",
    re: "info-request",
    msg: {
      type: "TDG.VP.INFO",
      status: "0x0000000000000000",
      gpaWidth,
      septVeDisable: true,
      numVcpus: 1,
    },
  };
  Envelope.parse(line);
  schemaFor("response", "TDG.VP.INFO")!.parse(line.msg);
  return line;
}

/** Feed every line to the monitor; the findings it reported, in order. */
export function observe(monitor: Monitor, lines: LogLine[]): Finding[] {
  const found: Finding[] = [];
  for (const line of lines) monitor.observe(line, (f) => found.push(f));
  return found;
}

/** End the run: the findings the monitor reports at the end. */
export function finish(monitor: Monitor): Finding[] {
  const found: Finding[] = [];
  monitor.finish?.((f) => found.push(f));
  return found;
}

/** A guest's TDG.VP.VMCALL<MapGPA> request for a range (shared bit set: to shared). */
export function mapGpa(seq: number, gpa: number, size: number): LogLine {
  const line: LogLine = {
    type: "msg",
    seq,
    id: `mapgpa-${seq}`,
    from: "guest/vcpu0",
    to: "fw",
    kind: "request",
    msg: { type: "TDG.VP.VMCALL<MapGPA>", gpa, size },
  };
  Envelope.parse(line);
  schemaFor("request", "TDG.VP.VMCALL<MapGPA>")!.parse(line.msg);
  return line;
}
