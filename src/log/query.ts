// Selecting log lines: who did each line, which GPAs and frames it touches, filters over those
// (combined with AND), and the compact one-line rendering `cocomem log` prints.
import {
  Address,
  Content,
  catalogue,
  DEFAULT_SHARED_BIT,
  describeContent,
  Effect,
  type Envelope,
  type Level,
  levelName,
  levelSize,
  type Message,
  PAGE_4K,
  PARTIES,
  type PartyName,
  sharedBitOf,
  U64,
} from "../../protocol/index.ts";
import type { LogLine } from "../../protocol/log.ts";
import { tdvmcallStatusName, tdxStatusName } from "../../protocol/status.ts";

/** A log line with who did it and, for an effect, the message behind it. */
export interface Annotated {
  line: LogLine;
  /** The acting address, or a violation's responsible party; unknown for header and verdict. */
  by?: string;
  /** For an effect: the call it was done for (see `annotate`). */
  cause?: Envelope;
  /** For a response: the request it answers, whose addresses it is about. */
  request?: Envelope;
}

/** The line and, for a response, its request: a response is about what its request named. */
export const aboutLines = (a: Annotated): LogLine[] => (a.request ? [a.line, a.request] : [a.line]);

/**
 * Attribute every line: who did it (`by`) and what caused it. The cause is the message named
 * by `causedBy`, except under TDH.VP.ENTER: there the module is running the guest, so the effect completes the vCPU's
 * outstanding call (an ACCEPT moving PENDING -> MAPPED is the guest's doing, not the host's).
 */
export function annotate(lines: readonly LogLine[]): Annotated[] {
  const annotator = new Annotator();
  return lines.map((line) => annotator.next(line));
}

/**
 * Messages remembered for the lines after them, besides the requests still open. An effect names
 * the message being delivered when it happened, which is the last one logged before it; a
 * response names its request, which stays open until then. So a window this size is plenty.
 */
const RECENT_MESSAGES = 4096;

/**
 * `annotate`, one line at a time, for a log read as a stream: it holds the open requests and the
 * last few thousand messages, never the whole log. It also follows the TD's shared bit
 * (`sharedBit`), which the first setup message carrying a GPA width gives.
 */
export class Annotator {
  /** Requests not answered yet: a guest call stays open across the TD exits it causes. */
  private readonly open = new Map<string, Envelope>();
  private readonly recent = new Recent<Envelope>(RECENT_MESSAGES);
  private widthSeen = false;
  sharedBit = DEFAULT_SHARED_BIT;

  next(line: LogLine): Annotated {
    switch (line.type) {
      case "msg": {
        this.recent.set(line.id, line);
        if (!this.widthSeen && "gpaWidth" in line.msg) {
          this.widthSeen = true;
          this.sharedBit = sharedBitOf(line.msg.gpaWidth);
        }
        if (line.kind === "request") {
          this.open.set(line.id, line);
          return { line, by: line.from };
        }
        const request = line.re === undefined ? undefined : this.byId(line.re);
        if (line.re !== undefined) this.open.delete(line.re);
        return { line, by: line.from, request };
      }
      case "effect": {
        const handled = line.causedBy === undefined ? undefined : this.byId(line.causedBy);
        return { line, by: line.effect.by, cause: (handled && this.resumedGuestCall(handled)) ?? handled };
      }
      case "violation":
        return { line, by: line.responsible };
      case "rejected":
        return { line, by: line.from };
      default:
        return { line };
    }
  }

  private byId(id: string): Envelope | undefined {
    return this.open.get(id) ?? this.recent.get(id);
  }

  private resumedGuestCall(handled: Envelope): Envelope | undefined {
    if (handled.kind !== "request" || !("vcpu" in handled.msg) || handled.msg.type !== "TDH.VP.ENTER") {
      return undefined;
    }
    const vcpu = `guest/vcpu${handled.msg.vcpu}`;
    let last: Envelope | undefined;
    for (const request of this.open.values()) if (request.from === vcpu) last = request;
    return last;
  }
}

/** The last `size` values set, by key: older ones are forgotten. */
export class Recent<T> {
  private readonly map = new Map<string, T>();
  /** The keys in the order they were set, as a ring. */
  private readonly keys: (string | undefined)[];
  private next = 0;

  constructor(private readonly size: number) {
    this.keys = new Array<string | undefined>(size);
  }

  set(key: string, value: T): void {
    const old = this.keys[this.next];
    if (old !== undefined) this.map.delete(old);
    this.keys[this.next] = key;
    this.next = (this.next + 1) % this.size;
    this.map.set(key, value);
  }

  get(key: string): T | undefined {
    return this.map.get(key);
  }
}

/**
 * The TD's shared bit, from the GPA width the setup messages carry (KVM_TDX_INIT_VM comes first).
 * A GPA with it set is the shared alias of the same page; 2^47 is the GPAW-48 default.
 */
export function sharedBitOfLog(lines: readonly LogLine[]): number {
  for (const line of lines) {
    if (line.type === "msg" && "gpaWidth" in line.msg) return sharedBitOf(line.msg.gpaWidth);
  }
  return DEFAULT_SHARED_BIT;
}

/** The private alias of a GPA: both aliases name the same guest page. */
export const privateAlias = (gpa: number, sharedBit: number): number =>
  gpa >= sharedBit ? gpa - sharedBit : gpa;
export const pageBase = (address: number): number => address - (address % PAGE_4K);

/** A half-open address range [start, end). */
export interface Span {
  start: number;
  end: number;
}
export const spanHitsPage = (span: Span, page: number): boolean =>
  span.start < page + PAGE_4K && span.end > page;

/** Payloads are typed unions; these read a field by name where any variant may carry it. */
export const fieldsOf = (value: object): Record<string, unknown> => value as Record<string, unknown>;
export const num = (value: unknown): number | undefined => (typeof value === "number" ? value : undefined);
const span = (start: number, size: number): Span => ({ start, end: start + size });

/** GPA ranges a line names, private aliases. Messages: `gpa` (or `address`) of the payload or of its exit/outcome. */
export function gpaSpans(line: LogLine, sharedBit: number): Span[] {
  const raw: Span[] = [];
  if (line.type === "msg") raw.push(...messageGpaSpans(line.msg));
  else if (line.type === "effect") {
    const s = effectGpaSpan(line.effect);
    if (s) raw.push(s);
  } else if (line.type === "violation" && line.gpa !== undefined) raw.push(span(line.gpa, PAGE_4K));
  return raw.map((s) => {
    const start = privateAlias(s.start, sharedBit);
    return { start, end: start + (s.end - s.start) };
  });
}

function messageGpaSpans(msg: Message): Span[] {
  const m = fieldsOf(msg);
  const parts = [m, m.exit, m.outcome].filter((p): p is object => typeof p === "object" && p !== null);
  const spans: Span[] = [];
  for (const part of parts.map(fieldsOf)) {
    // pKVM names a guest page by IPA, or by frame number (gfn) in the host's hypercalls.
    const gfn = num(part.gfn);
    const start =
      num(part.gpa) ?? num(part.address) ?? num(part.ipa) ?? (gfn === undefined ? gfn : gfn * PAGE_4K);
    if (start === undefined) continue;
    const npages = num(part.npages) ?? num(part.nr_pages);
    const level = num(part.level) as Level | undefined;
    const size =
      num(part.size) ??
      (npages === undefined ? undefined : npages * PAGE_4K) ??
      (level === undefined ? PAGE_4K : levelSize(level));
    spans.push(span(start, size));
  }
  return spans;
}

function effectGpaSpan(effect: Effect): Span | undefined {
  switch (effect.e) {
    case "sept":
    case "stage2":
      return span(effect.gpa, levelSize(effect.level));
    case "zero":
      return effect.gpa === undefined ? undefined : span(effect.gpa, effect.pages * PAGE_4K);
    case "attr":
    case "accepted":
    case "guest-view":
      return span(effect.gpa, effect.size);
    case "read":
    case "write":
    case "fault":
    case "ept":
    case "gmem":
      return effect.gpa === undefined ? undefined : span(effect.gpa, PAGE_4K);
    default:
      return undefined;
  }
}

/** Frames a line names: effect and violation `hpa`; message hpa, tdr, tdvpr, PAGE.ADD source, pKVM pfn and phys. */
export function hpaSpans(line: LogLine): Span[] {
  if (line.type === "effect") {
    const s = effectHpaSpan(line.effect);
    return s ? [s] : [];
  }
  if (line.type === "violation") return line.hpa === undefined ? [] : [span(line.hpa, PAGE_4K)];
  if (line.type !== "msg") return [];
  const m = fieldsOf(line.msg);
  const outcome = typeof m.outcome === "object" && m.outcome !== null ? fieldsOf(m.outcome) : {};
  // host.access clears a whole folio: `pages` says how many frames from hpa.
  const size = (num(m.pages) ?? num(m.nr_pages) ?? 1) * PAGE_4K;
  const pfn = num(m.pfn);
  return [m.hpa, m.tdr, m.tdvpr, m.source, m.phys, outcome.hpa, pfn === undefined ? pfn : pfn * PAGE_4K]
    .map(num)
    .filter((hpa) => hpa !== undefined)
    .map((hpa) => span(hpa, size));
}

function effectHpaSpan(effect: Effect): Span | undefined {
  if (!("hpa" in effect) || effect.hpa === undefined) return undefined;
  switch (effect.e) {
    case "zero":
    case "owner":
      return span(effect.hpa, effect.pages * PAGE_4K);
    case "sept":
      // A new non-leaf entry's hpa is its S-EPT page; any other transition's hpa is the data.
      return span(effect.hpa, effect.to === "NL_MAPPED" ? PAGE_4K : levelSize(effect.level));
    default:
      return span(effect.hpa, PAGE_4K);
  }
}

export interface LogFilter {
  /**
   * A party (guest, host, trusted) or one address of it as the log writes them (guest/vcpu0,
   * host/kvm, fw...): messages from or to it; effects by it; violations it is responsible for.
   */
  party?: PartyName | Address;
  /**
   * A message type, exact or a prefix ending at "." or "<" ("TDH.MEM"); an effect kind ("sept"); or
   * another line type (LINE_TYPES: "verdict", "violation"...).
   */
  type?: string;
  /** Lines naming the 4K page of this GPA, through either alias (and the responses to such requests). */
  gpa?: number;
  /** Lines naming the 4K frame of this HPA (and the responses to such requests). */
  hpa?: number;
  /** Lines with a seq from `from` to `to`, both included; the header has none, so is left out. */
  from?: number;
  to?: number;
}

/** Addresses as columns, left to right: guest/vcpuN (by N), guest/kernel, host/vmm, host/kvm, fw, hw. */
export function addressOrder(addresses: Iterable<string>): string[] {
  const FIXED = ["guest/kernel", "host/vmm", "host/kvm", "fw", "hw"];
  const rank = (a: string): number => {
    const vcpu = /^guest\/vcpu(\d+)$/.exec(a);
    return vcpu ? Number(vcpu[1]) - 1e6 : FIXED.indexOf(a);
  };
  return [...new Set(addresses)].sort((a, b) => rank(a) - rank(b));
}

export function partyOfActor(by: string): PartyName {
  if (by === "guest" || by.startsWith("guest/")) return "guest";
  if (by === "host" || by.startsWith("host/")) return "host";
  return "trusted";
}

/**
 * Whether a type filter names this type: the type itself, or a prefix ending at a word boundary
 * ("TDH.MEM" and "TDH.MEM." for TDH.MEM.*, "TDG.VP.VMCALL" for its <leaves>, "__pkvm_host" for
 * pKVM's __pkvm_host_* calls), never in the middle of a word ("TDH.ME").
 */
export function typeMatches(name: string, pattern: string): boolean {
  if (name === pattern) return true;
  return name.startsWith(pattern) && (/[.<_]$/.test(pattern) || ".<_".includes(name.charAt(pattern.length)));
}

/** Whether `text` names a party or an address `--party` can filter on. */
export const isPartyOrAddress = (text: string): text is PartyName | Address =>
  (PARTIES as readonly string[]).includes(text) || Address.safeParse(text).success;

/** The message types, effect kinds and other line types a log can hold: what `type` can name. */
export const MESSAGE_TYPES: readonly string[] = catalogue.map((def) => def.name).sort();
export const EFFECT_KINDS: readonly string[] = Effect.options.map((o) => o.shape.e.value).sort();
/** Lines that are neither message nor effect; none shares a name with a type or kind. */
export const LINE_TYPES: readonly string[] = ["header", "rejected", "verdict", "violation"];

/** Whether a `type` filter can match anything: a known type or kind, or a prefix of some. */
export const knownType = (pattern: string): boolean =>
  LINE_TYPES.includes(pattern) ||
  [...MESSAGE_TYPES, ...EFFECT_KINDS].some((name) => typeMatches(name, pattern));

/**
 * A predicate true for lines that pass every filter given. `sharedBit` may be a function, for a
 * log read as a stream, where it is known only once the setup message carrying it went by.
 */
export function lineMatcher(
  filter: LogFilter,
  sharedBit: number | (() => number),
): (a: Annotated) => boolean {
  const tests: ((a: Annotated) => boolean)[] = [];
  const { party, type, gpa, hpa, from, to } = filter;
  const bit = typeof sharedBit === "number" ? () => sharedBit : sharedBit;
  if (party !== undefined && (PARTIES as readonly string[]).includes(party)) {
    tests.push(({ line, by }) =>
      line.type === "msg"
        ? partyOfActor(line.from) === party || partyOfActor(line.to) === party
        : by !== undefined && partyOfActor(by) === party,
    );
  } else if (party !== undefined) {
    // One address; a violation blames a whole party ("host"), which then includes the address.
    const own = partyOfActor(party);
    tests.push(({ line, by }) =>
      line.type === "msg" ? line.from === party || line.to === party : by === party || by === own,
    );
  }
  if (type !== undefined) {
    tests.push(({ line }) =>
      line.type === "msg"
        ? typeMatches(line.msg.type, type)
        : line.type === "effect"
          ? typeMatches(line.effect.e, type)
          : line.type === type,
    );
  }
  if (from !== undefined || to !== undefined) {
    tests.push(
      ({ line }) =>
        line.type !== "header" && line.seq >= (from ?? 0) && line.seq <= (to ?? Number.POSITIVE_INFINITY),
    );
  }
  if (gpa !== undefined) {
    tests.push((a) => {
      const shared = bit();
      const page = pageBase(privateAlias(gpa, shared));
      return aboutLines(a).some((l) => gpaSpans(l, shared).some((s) => spanHitsPage(s, page)));
    });
  }
  if (hpa !== undefined) {
    const frame = pageBase(hpa);
    tests.push((a) => aboutLines(a).some((l) => hpaSpans(l).some((s) => spanHitsPage(s, frame))));
  }
  return (a) => tests.every((test) => test(a));
}

/** Annotate a log and keep the lines that pass the filter. */
export function filterLog(lines: readonly LogLine[], filter: LogFilter): Annotated[] {
  return annotate(lines).filter(lineMatcher(filter, sharedBitOfLog(lines)));
}

// ---- Rendering ----

export const hex = (value: number): string => `0x${value.toString(16)}`;

/** Fields that hold addresses or sizes, printed in hex. */
const HEX_FIELDS = new Set([
  "gpa",
  "hpa",
  "size",
  "address",
  "tdr",
  "tdvpr",
  "source",
  "offset",
  "len",
  "memory_size",
  "guest_phys_addr",
  "guest_memfd_offset",
  "retryGpa",
  "ipa",
  "phys",
  "spt",
  // Frame numbers: hex as the kernel prints them, so pfn=0x100000 reads as hpa=0x100000000.
  "pfn",
  "gfn",
]);

/** `key=value ...` of an object's fields: addresses in hex, statuses by name, contents as labels. */
export function formatFields(
  record: object,
  omit: readonly string[] = [],
  statusName: (status: string) => string = tdxStatusName,
): string {
  return Object.entries(record)
    .filter(([key, value]) => !omit.includes(key) && value !== undefined)
    .map(([key, value]) => `${key}=${formatValue(key, value, statusName)}`)
    .join(" ");
}

function formatValue(key: string, value: unknown, statusName: (status: string) => string): string {
  if (typeof value === "number") {
    if (HEX_FIELDS.has(key)) return hex(value);
    const isLevel = /^(level|acceptLevel)$/.test(key) && value >= 0 && value <= 2;
    return isLevel ? levelName(value as Level) : String(value);
  }
  if (typeof value === "string") {
    if (key === "status" && U64.safeParse(value).success) return statusName(value);
    // Digests (MRTD) are long and only their start is needed to tell two apart.
    if (/^[0-9a-f]{33,}$/.test(value)) return `${value.slice(0, 16)}…`;
    return /\s/.test(value) ? JSON.stringify(value) : value;
  }
  // A violation's evidence is seqs: printed as the first column of the lines it names.
  if (key === "evidence" && Array.isArray(value)) return value.map((seq) => `#${seq}`).join(",") || "none";
  if (Array.isArray(value)) return `[${value.length} items]`;
  if (typeof value === "object" && value !== null) {
    const content = Content.safeParse(value);
    if (content.success) return describeContent(content.data);
    // A TDVMCALL completion carries the R10 status, which has its own codes.
    return `{${formatFields(value, [], key === "vmcall" ? tdvmcallStatusName : statusName)}}`;
  }
  return String(value);
}

const seqColumn = (seq: number): string => String(seq).padStart(5);

/** One compact line per log line: `seq  from -> to  kind  TYPE key=value ...` for messages. */
export function formatLine({ line, by }: Annotated): string {
  switch (line.type) {
    case "header":
      return `    -  header  ${formatFields(line, ["type"])}`;
    case "msg":
      return `${seqColumn(line.seq)}  ${line.from} -> ${line.to}  ${line.kind}  ${line.msg.type} ${formatFields(line.msg, ["type"])}`.trimEnd();
    case "effect":
      return `${seqColumn(line.seq)}  effect ${by ?? "?"}  ${line.effect.e} ${formatFields(line.effect, ["e", "by"])}`.trimEnd();
    case "violation":
      return `${seqColumn(line.seq)}  violation ${line.responsible}  ${line.monitor}/${line.invariant} ${formatFields(line, ["type", "seq", "monitor", "invariant", "responsible"])}`;
    case "rejected":
      return `${seqColumn(line.seq)}  rejected ${line.from}  ${JSON.stringify(line.reason)}`;
    case "verdict":
      return `${seqColumn(line.seq)}  verdict  ${line.outcome} ${formatFields(line, ["type", "seq", "outcome", "stats"])}`;
  }
}
