// The life of one guest page: every line that names it by GPA (either alias), plus every line that
// names the frame backing it at that moment by HPA only (host clears, ownership changes). The
// backing frame is followed through S-EPT leaves, shared-EPT maps and guest_memfd allocations.
// Around those: the calls that started them (a VMM's fallocate, the guest exit it answered), the
// VM's lifecycle (every page lives and dies with the VM), and the run's verdict at the end.
import {
  describeContent,
  type Effect,
  type Envelope,
  levelName,
  levelSize,
  PAGE_4K,
} from "../../protocol/index.ts";
import type { HeaderLine, LogLine, VerdictLine } from "../../protocol/log.ts";
import {
  type Annotated,
  aboutLines,
  annotate,
  formatFields,
  gpaSpans,
  hex,
  hpaSpans,
  type LogFilter,
  lineMatcher,
  pageBase,
  privateAlias,
  Recent,
  sharedBitOfLog,
  spanHitsPage,
} from "./query.ts";

export interface TimelineEntry {
  seq: number;
  /** Who did it: the sender of a message, the actor of an effect, the party a violation blames. */
  by: string;
  /** One-line description. */
  text: string;
  /** For an effect: the message it was done for, as "sender TYPE [response] #seq". */
  cause?: string;
  /** The frame backing the page from here on, on the entry that made it so. */
  backing?: number;
  /** On a call that names no page but started what did: the seq of the first entry it led to. */
  ledTo?: number;
  line: LogLine;
}

export interface PageTimeline {
  /** The 4K page, as its private-alias GPA. */
  page: number;
  entries: TimelineEntry[];
  /** How the run ended, if the log says: shown whatever the filter and the cap on entries. */
  verdict?: TimelineEntry;
}

/** The timeline of the page holding `gpa`; `filter` further restricts which entries are kept. */
export function pageTimeline(lines: readonly LogLine[], gpa: number, filter: LogFilter = {}): PageTimeline {
  const sharedBit = sharedBitOfLog(lines);
  const builder = new TimelineBuilder(gpa, filter, () => sharedBit);
  for (const a of annotate(lines)) builder.add(a);
  return builder.finish();
}

/** From seq `from` on, the page is backed by frame `hpa` (undefined: the frame went to another page). */
interface Claim {
  from: number;
  /** The line making the claim. */
  seq: number;
  hpa: number | undefined;
}

/**
 * Messages remembered to look causes up: a claim needs the one being delivered; a walk back to
 * the call that started an entry takes a few dozen steps (a hole punch: BLOCK, TRACK, kicks,
 * REMOVE, clears), so this is plenty.
 */
const RECENT_MESSAGES = 4096;

/**
 * The actors that act of their own accord, on a workload step or a decision of the VMM; the
 * others (KVM, the module, the hardware) serve their calls.
 */
const startsChains = (from: string): boolean => from === "host/vmm" || from.startsWith("guest/");

/**
 * `pageTimeline` over annotated lines handed in one at a time (a log read as a stream). It holds
 * one delivery's lines at a time: a change of backing frame counts from the message that caused
 * it, so the other effects of the same call (AUG's ownership change, logged before its S-EPT
 * change) see it, and a delivery's effects follow its message directly.
 */
export class TimelineBuilder {
  private readonly entries: TimelineEntry[] = [];
  /** Entries that matched, held or not (see `max`). */
  count = 0;
  /** The current delivery: its message, then the effects and findings that followed. */
  private group: Annotated[] = [];
  private claims: Claim[] = [];
  /** The frame backing the page as the mapping effects go by. */
  private current: number | undefined;
  /** The frame backing the page as the entries judged so far saw it. */
  private backing: number | undefined;
  private readonly messages = new Recent<Envelope>(RECENT_MESSAGES);
  /** The calls added for what they started, by id: a call that started several entries comes once. */
  private readonly started = new Recent<true>(RECENT_MESSAGES);
  private verdict: VerdictLine | undefined;
  private readonly keep: (a: Annotated) => boolean;

  /**
   * `sharedBit` is read as lines come (a stream learns it from the first setup message); at most
   * `max` entries are held, the others only counted.
   */
  constructor(
    private readonly gpa: number,
    filter: LogFilter,
    private readonly sharedBit: () => number,
    private readonly max = Number.POSITIVE_INFINITY,
  ) {
    this.keep = lineMatcher(filter, sharedBit);
  }

  /** The 4K page, as its private-alias GPA. */
  get page(): number {
    return pageBase(privateAlias(this.gpa, this.sharedBit()));
  }

  add(a: Annotated): void {
    const { line } = a;
    if (line.type === "msg") {
      this.judge();
      this.messages.set(line.id, line);
    }
    if (line.type === "effect") this.claim(line.seq, line.causedBy, line.effect);
    if (line.type === "verdict") this.verdict = line;
    else this.group.push(a);
  }

  finish(): PageTimeline {
    this.judge();
    const { page, entries, verdict } = this;
    return verdict
      ? { page, entries, verdict: entryOf(verdict, { line: verdict }, undefined) }
      : { page, entries };
  }

  /** Note where the page's frame changes. */
  private claim(seq: number, causedBy: string | undefined, effect: Effect): void {
    const mapping = mappingOf(effect);
    if (!mapping) return;
    const page = this.page;
    const gpa = privateAlias(mapping.gpa, this.sharedBit());
    const current = this.current;
    let hpa: number | undefined = current;
    if (page >= gpa && page < gpa + mapping.size) hpa = mapping.hpa + (page - gpa);
    else if (current !== undefined && current >= mapping.hpa && current < mapping.hpa + mapping.size)
      hpa = undefined;
    if (hpa === current) return;
    this.current = hpa;
    // The lines of earlier deliveries were judged already: a claim counts from this one at most.
    const start = this.group[0]?.line;
    const first = start !== undefined && start.type !== "header" ? start.seq : seq;
    const from = (causedBy === undefined ? undefined : this.messages.get(causedBy)?.seq) ?? seq;
    this.claims.push({ from: Math.max(from, first), seq, hpa });
  }

  /** Judge the lines of the delivery that just ended. */
  private judge(): void {
    const claims = this.claims.sort((a, b) => a.from - b.from);
    const sharedBit = this.sharedBit();
    const page = this.page;
    let next = 0;
    for (const a of this.group) {
      const { line } = a;
      if (line.type === "header") continue;
      while (next < claims.length && claims[next]!.from <= line.seq) this.backing = claims[next++]!.hpa;
      const backing = this.backing;
      const names = (l: LogLine): boolean => gpaSpans(l, sharedBit).some((s) => spanHitsPage(s, page));
      const byGpa = aboutLines(a).some(names);
      // Messages only by GPA: host.access of the frame is already there as the effect it caused.
      const byFrame =
        line.type !== "msg" && backing !== undefined && hpaSpans(line).some((s) => spanHitsPage(s, backing));
      const lifecycle =
        line.type === "effect" && (line.effect.e === "lifecycle" || line.effect.e === "terminated");
      if ((!byGpa && !byFrame && !lifecycle) || !this.keep(a)) continue;
      for (const call of this.startedBy(line)) {
        const started: Annotated = { line: call, by: call.from };
        // A call naming the page is an entry of its own.
        if (this.started.get(call.id) || names(call) || !this.keep(started)) continue;
        this.started.set(call.id, true);
        this.push({ ...entryOf(call, started, undefined), ledTo: line.seq });
      }
      const claim = claims.find((c) => c.seq === line.seq);
      this.push(entryOf(line, a, claim?.hpa));
    }
    // A claim made after the delivery's last line still holds for the next delivery.
    while (next < claims.length) this.backing = claims[next++]!.hpa;
    this.group = [];
    this.claims = [];
  }

  /** Count an entry; hold it, in seq order (a call that started a line comes before it), unless `max` are held. */
  private push(entry: TimelineEntry): void {
    this.count++;
    if (this.entries.length >= this.max) return;
    let at = this.entries.length;
    while (at > 0 && this.entries[at - 1]!.seq > entry.seq) at--;
    this.entries.splice(at, 0, entry);
  }

  /**
   * The calls that started a line: the first request by the VMM or a guest vCPU on its chain of
   * causes (the line itself, if it is one); for the VMM's, also the guest request its decision
   * answered, if one comes before the VMM's previous call (the guest's POST before a hole punch).
   */
  private startedBy(line: Exclude<LogLine, HeaderLine>): Envelope[] {
    const self = line.type === "msg" && line.kind === "request" && startsChains(line.from);
    const first = self
      ? line
      : this.firstStarter(line.type === "msg" || line.type === "effect" ? line.causedBy : undefined);
    if (first?.from !== "host/vmm") return first && !self ? [first] : [];
    const guest = this.firstStarter(first.causedBy);
    return [...(self ? [] : [first]), ...(guest && guest.from !== "host/vmm" ? [guest] : [])];
  }

  /** Walking causes back from the message `id`, the first request by the VMM or a guest vCPU. */
  private firstStarter(id: string | undefined): Envelope | undefined {
    for (let steps = 0; id !== undefined && steps < RECENT_MESSAGES; steps++) {
      const message = this.messages.get(id);
      if (message === undefined) return undefined;
      if (message.kind === "request" && startsChains(message.from)) return message;
      id = message.causedBy;
    }
    return undefined;
  }
}

/** Entry states with a frame behind them: TDX leaves, and pKVM guest pages (owned or shared). */
const BACKED_STATES = new Set(["MAPPED", "PENDING", "PKVM_PAGE_OWNED", "PKVM_PAGE_SHARED_OWNED"]);

/** An effect that puts a frame behind a GPA range. */
function mappingOf(effect: Effect): { gpa: number; hpa: number; size: number } | undefined {
  switch (effect.e) {
    case "sept":
    case "stage2":
      if (effect.hpa === undefined || !BACKED_STATES.has(effect.to)) return undefined;
      return { gpa: effect.gpa, hpa: effect.hpa, size: levelSize(effect.level) };
    case "ept":
      return effect.op === "map" && effect.hpa !== undefined
        ? { gpa: effect.gpa, hpa: effect.hpa, size: PAGE_4K }
        : undefined;
    case "gmem":
      return effect.op === "alloc" && effect.gpa !== undefined
        ? { gpa: effect.gpa, hpa: effect.hpa, size: PAGE_4K }
        : undefined;
    default:
      return undefined;
  }
}

function entryOf(
  line: Exclude<LogLine, HeaderLine>,
  { by, cause }: Annotated,
  backing: number | undefined,
): TimelineEntry {
  const entry: TimelineEntry = { seq: line.seq, by: by ?? "?", text: "", line };
  switch (line.type) {
    case "msg":
      entry.text =
        `${line.msg.type} ${line.kind} -> ${line.to} ${formatFields(line.msg, ["type"])}`.trimEnd();
      break;
    case "effect":
      entry.text = describeEffect(line.effect, cause);
      if (cause)
        entry.cause = `${cause.from} ${cause.msg.type}${cause.kind === "request" ? "" : ` ${cause.kind}`} #${cause.seq}`;
      break;
    case "violation":
      entry.text = `VIOLATION ${line.monitor}/${line.invariant}: ${line.detail}${line.evidence.length > 0 ? ` (evidence ${line.evidence.map((seq) => `#${seq}`).join(",")})` : ""}`;
      break;
    case "verdict":
      entry.by = "verdict";
      entry.text = `${line.outcome}: ${line.reason}`;
      break;
    default:
      entry.text = line.type;
  }
  if (backing !== undefined) entry.backing = backing;
  return entry;
}

/** One line saying what an effect did; `cause` tells how a frame was zeroed (MOVDIR64B or clear_page). */
export function describeEffect(effect: Effect, cause?: Envelope): string {
  switch (effect.e) {
    case "sept":
    case "stage2":
      return `${effect.e === "sept" ? "S-EPT" : "stage-2"} ${levelName(effect.level)} ${hex(effect.gpa)}: ${effect.from} -> ${effect.to}${effect.hpa === undefined ? "" : ` hpa=${hex(effect.hpa)}`}`;
    case "ept":
      return `shared EPT ${effect.op} ${hex(effect.gpa)}${effect.hpa === undefined ? "" : ` -> hpa=${hex(effect.hpa)}`}`;
    case "attr":
      return `attributes ${hex(effect.gpa)}+${hex(effect.size)} -> ${effect.private ? "private" : "shared"}`;
    case "gmem":
      return `guest_memfd ${effect.op}${effect.gpa === undefined ? "" : ` gpa=${hex(effect.gpa)}`} hpa=${hex(effect.hpa)}`;
    case "owner":
      return `frame ${hex(effect.hpa)} x${effect.pages} owner ${effect.from} -> ${effect.to}${effect.pageType ? ` (${effect.pageType})` : ""}${effect.guestState ? ` (was ${effect.guestState})` : ""}`;
    case "read":
    case "write":
      return `${effect.e} hpa=${hex(effect.hpa)}${effect.gpa === undefined ? "" : ` gpa=${hex(effect.gpa)}`}: ${describeContent(effect.content)}`;
    case "zero": {
      const op = cause?.msg.type === "host.access" && "op" in cause.msg ? `${cause.msg.op}, ` : "";
      return `zero hpa=${hex(effect.hpa)} x${effect.pages} (${op}${effect.why}, key ${effect.keyId})`;
    }
    case "fault":
      return `fault ${effect.kind} ${formatFields(effect, ["e", "by", "kind", "detail"])}: ${effect.detail}`;
    case "poison":
    case "mc":
      return `${effect.e === "mc" ? "#MC" : "poison"} hpa=${hex(effect.hpa)}: ${effect.detail}`;
    case "accepted":
      return `guest accepted ${hex(effect.gpa)}+${hex(effect.size)}`;
    case "guest-view":
      return `guest view ${hex(effect.gpa)}+${hex(effect.size)} -> ${effect.view}`;
    case "lifecycle":
      return `lifecycle ${effect.state}${effect.detail === undefined ? "" : `: ${effect.detail}`}`;
    case "consumed":
      return `consumed 0x${effect.gpa.toString(16)}: checked ${describeContent(effect.checked)}, used ${describeContent(effect.used)}`;
    case "terminated":
      return `terminated: ${effect.reason}`;
  }
}

/** Human-readable lines: `seq  by  description  [cause]  => backed by hpa`, the verdict last. */
export function formatTimeline(timeline: PageTimeline): string[] {
  const shown = timeline.verdict ? [...timeline.entries, timeline.verdict] : timeline.entries;
  const width = Math.max(0, ...shown.map((e) => e.by.length));
  return [
    `page ${hex(timeline.page)} (${timeline.entries.length} entries)`,
    ...shown.map((e) =>
      [
        `${String(e.seq).padStart(5)}  ${e.by.padEnd(width)}  ${e.text}`,
        e.cause === undefined ? "" : `  [${e.cause}]`,
        e.ledTo === undefined ? "" : `  [led to #${e.ledTo}]`,
        e.backing === undefined ? "" : `  => backed by ${hex(e.backing)}`,
      ].join(""),
    ),
  ];
}
