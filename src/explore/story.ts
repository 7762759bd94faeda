// A finding told as a short story: the host's departures from the honest path, in order, with the
// guest's steps between them and the log line where the monitor fired. Each line starts with the
// log seq it happened at, so `cocomem log FILE` on the replay's log shows the detail around it.
import { describeContent, partyOf, type Request } from "../../protocol/index.ts";
import type { LogLine } from "../../protocol/log.ts";
import type { HostAction } from "../adversaries/any/adversary.ts";
import type { Finding } from "./runner.ts";

const hex = (n: number) => `0x${n.toString(16)}`;

/** A request in one line: its type and fields, numbers in hex. */
function describeRequest(request: Request): string {
  const fields = Object.entries(request)
    .filter(([name]) => name !== "type")
    .map(([name, value]) => {
      if (typeof value === "number") return `${name}=${hex(value)}`;
      if (typeof value === "object" && value !== null && "k" in value)
        return `${name}=${describeContent(value as never)}`;
      return `${name}=${typeof value === "object" ? JSON.stringify(value) : String(value)}`;
    });
  return fields.length > 0 ? `${request.type}(${fields.join(", ")})` : request.type;
}

function describeAction(action: HostAction): string {
  const what =
    action.what === "inject" ? "sends" : action.what === "build" ? "builds with" : `${action.what}s`;
  const detail = action.detail ? ` [${action.detail}]` : "";
  return `host  ${what} ${describeRequest(action.request)}${detail}`;
}

/** The guest's own steps, as the log's effects show them. */
function guestStep(line: LogLine): string | undefined {
  if (line.type !== "effect" || partyOf(line.effect.by) !== "guest") return undefined;
  const e = line.effect;
  switch (e.e) {
    case "accepted":
      return `guest accepts ${hex(e.gpa)} (${e.size / 1024}K)`;
    case "write":
      return `guest writes ${describeContent(e.content)} at ${hex(e.gpa ?? e.hpa)}`;
    case "read":
      return `guest reads ${hex(e.gpa ?? e.hpa)}: ${describeContent(e.content)}`;
    case "guest-view":
      return `guest makes ${hex(e.gpa)} (${e.size / 1024}K) ${e.view}`;
    case "terminated":
      return `guest stops: ${e.reason}`;
    default:
      return undefined;
  }
}

/** A host action placed in the log: after which delivery, and the line of its message, if it has one. */
export interface Departure {
  /** The seq of the host delivery it followed (0: before any; the story's seq for a withheld request). */
  after: number;
  /** The seq of the request it sent, altered, built or delayed; none for a withheld one. */
  line?: number;
  text: string;
}

/** Where each of the generic adversary's actions (`journal`) shows in its run's `log`. */
export function departures(log: readonly LogLine[], journal: readonly HostAction[]): Departure[] {
  // Host action k happened after the host's k-th delivery: place it at that delivery's seq.
  const deliveries: number[] = [];
  for (const line of log) if (line.type === "msg" && partyOf(line.to) === "host") deliveries.push(line.seq);
  return journal.map((action) => {
    const after = action.delivery === 0 ? 0 : (deliveries[action.delivery - 1] ?? 0);
    const departure: Departure = { after, text: describeAction(action) };
    if (action.what === "withhold") return departure;
    // Its message is the first host request after that delivery (from the start of the log, before
    // any) carrying exactly that payload.
    const first = action.delivery === 0 ? 0 : after + 1;
    const payload = JSON.stringify(action.request);
    const sent = log.find(
      (line) =>
        line.type === "msg" &&
        line.seq >= first &&
        line.kind === "request" &&
        partyOf(line.from) === "host" &&
        JSON.stringify(line.msg) === payload,
    );
    if (sent && sent.type === "msg") departure.line = sent.seq;
    return departure;
  });
}

/** The story of a run: `journal` from the generic adversary, `log` kept in memory. */
export function story(log: readonly LogLine[], journal: readonly HostAction[], finding: Finding): string[] {
  // Each action at the line of its message, if it has one (a withheld request has none).
  const events: { seq: number; order: number; text: string }[] = departures(log, journal).map(
    ({ after, line, text }, order) => ({ seq: line ?? after, order, text }),
  );
  for (const line of log) {
    if (line.type === "header") continue;
    const text = guestStep(line);
    if (text) events.push({ seq: line.seq, order: -1, text });
    if (
      line.type === "violation" &&
      line.monitor === finding.monitor &&
      line.invariant === finding.invariant
    ) {
      events.push({
        seq: line.seq,
        order: 0,
        text: `${finding.monitor.toUpperCase()} ${finding.invariant} (${finding.responsible}): ${line.detail}`,
      });
      break;
    }
  }
  events.sort((a, b) => a.seq - b.seq || a.order - b.order);
  const width = String(events.at(-1)?.seq ?? 0).length + 1;
  return events.map((e) => `#${String(e.seq).padEnd(width)} ${e.text}`);
}
