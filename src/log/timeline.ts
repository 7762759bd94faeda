// The life of one guest page: every line that names it by GPA (either alias), plus every line that
// names the frame backing it at that moment by HPA only (host clears, ownership changes). The
// backing frame is followed through S-EPT leaves, shared-EPT maps and guest_memfd allocations.
import {
  describeContent,
  type Effect,
  type Envelope,
  levelName,
  levelSize,
  PAGE_4K,
} from "../../protocol/index.ts";
import type { HeaderLine, LogLine } from "../../protocol/log.ts";
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
  line: LogLine;
}

export interface PageTimeline {
  /** The 4K page, as its private-alias GPA. */
  page: number;
  entries: TimelineEntry[];
}

/** The timeline of the page holding `gpa`; `filter` further restricts which entries are kept. */
export function pageTimeline(lines: readonly LogLine[], gpa: number, filter: LogFilter = {}): PageTimeline {
  const sharedBit = sharedBitOfLog(lines);
  const page = pageBase(privateAlias(gpa, sharedBit));
  const annotated = annotate(lines);
  const claims = backingClaims(annotated, page, sharedBit);
  const keep = lineMatcher(filter, sharedBit);
  const entries: TimelineEntry[] = [];
  let backing: number | undefined;
  let next = 0;
  for (const a of annotated) {
    const { line } = a;
    if (line.type === "header") continue;
    while (next < claims.length && claims[next]!.from <= line.seq) backing = claims[next++]!.hpa;
    const byGpa = aboutLines(a).some((l) => gpaSpans(l, sharedBit).some((s) => spanHitsPage(s, page)));
    // Messages only by GPA: host.access of the frame is already there as the effect it caused.
    const byFrame =
      line.type !== "msg" && backing !== undefined && hpaSpans(line).some((s) => spanHitsPage(s, backing!));
    if ((!byGpa && !byFrame) || !keep(a)) continue;
    const claim = claims.find((c) => c.seq === line.seq);
    entries.push(entryOf(line, a, claim?.hpa));
  }
  return { page, entries };
}

/** From seq `from` on, the page is backed by frame `hpa` (undefined: the frame went to another page). */
interface Claim {
  from: number;
  /** The line making the claim. */
  seq: number;
  hpa: number | undefined;
}

/**
 * Where the page's frame changes. A claim counts from the message that caused it, so the other
 * effects of the same call (AUG's ownership change, logged before its S-EPT change) see it.
 */
function backingClaims(annotated: readonly Annotated[], page: number, sharedBit: number): Claim[] {
  const seqOf = new Map<string, number>();
  const claims: Claim[] = [];
  let current: number | undefined;
  for (const { line } of annotated) {
    if (line.type === "msg") seqOf.set(line.id, line.seq);
    if (line.type !== "effect") continue;
    const mapping = mappingOf(line.effect);
    if (!mapping) continue;
    const gpa = privateAlias(mapping.gpa, sharedBit);
    let hpa: number | undefined = current;
    if (page >= gpa && page < gpa + mapping.size) hpa = mapping.hpa + (page - gpa);
    else if (current !== undefined && current >= mapping.hpa && current < mapping.hpa + mapping.size)
      hpa = undefined;
    if (hpa === current) continue;
    current = hpa;
    const from = (line.causedBy === undefined ? undefined : seqOf.get(line.causedBy)) ?? line.seq;
    claims.push({ from, seq: line.seq, hpa });
  }
  return claims.sort((a, b) => a.from - b.from);
}

/** Entry states with a frame behind them: TDX leaves, and pKVM guest pages (owned or shared). */
const BACKED_STATES = new Set(["MAPPED", "PENDING", "PKVM_PAGE_OWNED", "PKVM_PAGE_SHARED_OWNED"]);

/** An effect that puts a frame behind a GPA range. */
function mappingOf(effect: Effect): { gpa: number; hpa: number; size: number } | undefined {
  switch (effect.e) {
    case "sept":
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
      entry.text = `VIOLATION ${line.monitor}/${line.invariant}: ${line.detail}`;
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

/** Human-readable lines: `seq  by  description  [cause]  => backed by hpa`. */
export function formatTimeline(timeline: PageTimeline): string[] {
  const width = Math.max(0, ...timeline.entries.map((e) => e.by.length));
  return [
    `page ${hex(timeline.page)} (${timeline.entries.length} entries)`,
    ...timeline.entries.map((e) =>
      [
        `${String(e.seq).padStart(5)}  ${e.by.padEnd(width)}  ${e.text}`,
        e.cause === undefined ? "" : `  [${e.cause}]`,
        e.backing === undefined ? "" : `  => backed by ${hex(e.backing)}`,
      ].join(""),
    ),
  ];
}
