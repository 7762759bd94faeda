// The viewer's picture of a run, built once when the page opens: the lines annotated with who did
// them (as `cocomem log` reads them), the party columns, requests paired with their responses, and
// which lines the current filters keep. Row text is made on demand: only what is on screen.
import type { HeaderLine, LogLine, VerdictLine, ViolationLine } from "../../../protocol/log.ts";
import {
  type Annotated,
  Annotator,
  addressOrder,
  formatLine,
  type LogFilter,
  lineMatcher,
} from "../../log/query.ts";
import type { ViewData } from "../view-data.ts";

/** What the filters bar sets; empty fields filter nothing. */
export interface Filters extends LogFilter {
  effects: boolean;
  search?: string;
}

export class Model {
  readonly lines: readonly LogLine[];
  readonly annotated: Annotated[];
  readonly header?: HeaderLine;
  readonly verdict?: VerdictLine;
  readonly violations: ViolationLine[] = [];
  readonly lanes: string[];
  /** Pixels per column (rows.ts laneWidthFor, from the list's width when the page opens). */
  laneWidth = 104;
  /** The shared bit of the TD's GPAs, as the log's setup messages give it. */
  readonly sharedBit: number;
  /** Line index by seq. */
  private readonly bySeq = new Map<number, number>();
  /** Line index of a message by id (causes and pairs). */
  private readonly byId = new Map<string, number>();
  /** For a request, the line index of its response; for a response, of its request; else -1. */
  readonly pair: Int32Array;
  /** Row order: the line indices the filters keep (the header is never a row). */
  visible: Int32Array;
  private texts: (string | undefined)[] = [];

  constructor(
    readonly data: ViewData,
    /** A row's words as plain text (rows.ts draws them; the model only searches them). */
    private readonly rowText: (index: number) => string,
  ) {
    this.lines = data.lines;
    const annotator = new Annotator();
    this.annotated = data.lines.map((line) => annotator.next(line));
    this.sharedBit = annotator.sharedBit;
    this.pair = new Int32Array(data.lines.length).fill(-1);
    const addresses = new Set<string>();
    data.lines.forEach((line, i) => {
      if (line.type === "header") {
        (this as { header?: HeaderLine }).header = line;
        return;
      }
      this.bySeq.set(line.seq, i);
      if (line.type === "verdict") (this as { verdict?: VerdictLine }).verdict = line;
      if (line.type === "violation") this.violations.push(line);
      if (line.type === "effect") addresses.add(line.effect.by);
      if (line.type === "rejected") addresses.add(line.from);
      if (line.type !== "msg") return;
      addresses.add(line.from);
      addresses.add(line.to);
      this.byId.set(line.id, i);
      const request = line.re === undefined ? undefined : this.byId.get(line.re);
      if (request !== undefined) {
        this.pair[i] = request;
        this.pair[request] = i;
      }
    });
    this.lanes = addressOrder(addresses);
    this.visible = this.filter({ effects: true });
  }

  indexOfSeq(seq: number): number | undefined {
    return this.bySeq.get(seq);
  }

  /**
   * The line index of what caused a line: the message its `causedBy` names; for a violation, which
   * has none, its latest evidence (as `cocomem log --why` steps back).
   */
  causeOf(index: number): number | undefined {
    const line = this.lines[index];
    if (line?.type === "violation")
      return line.evidence.length > 0 ? this.bySeq.get(Math.max(...line.evidence)) : undefined;
    if (!line || (line.type !== "msg" && line.type !== "effect") || line.causedBy === undefined)
      return undefined;
    return this.byId.get(line.causedBy);
  }

  /** The column of an actor: its own, or for a party named as a whole (a violation's), its main one. */
  laneOf(actor: string | undefined): number {
    if (actor === undefined) return -1;
    const own = this.lanes.indexOf(actor);
    if (own !== -1) return own;
    const main = { guest: "guest/kernel", host: "host/kvm" }[actor] ?? actor;
    const fallback = this.lanes.indexOf(main);
    return fallback !== -1 ? fallback : this.lanes.findIndex((lane) => lane.startsWith(`${actor}/`));
  }

  /** The line as `cocomem log` prints it. */
  textOf(index: number): string {
    return formatLine(this.annotated[index]!);
  }

  /** What the text search looks in: the line as `cocomem log` prints it and as its row reads. */
  searchTextOf(index: number): string {
    let text = this.texts[index];
    if (text === undefined) {
      text = `${this.textOf(index)}\n${this.rowText(index)}`.toLowerCase();
      this.texts[index] = text;
    }
    return text;
  }

  /** The line indices (header left out) that pass the filters, in log order. */
  filter(filters: Filters): Int32Array {
    const keep = lineMatcher(filters, this.sharedBit);
    const needle = filters.search?.trim().toLowerCase();
    const out: number[] = [];
    this.annotated.forEach((a, i) => {
      if (a.line.type === "header") return;
      if (!filters.effects && a.line.type === "effect") return;
      if (!keep(a)) return;
      if (needle && !this.searchTextOf(i).includes(needle)) return;
      out.push(i);
    });
    return Int32Array.from(out);
  }

  /** The number of message lines: one arrow each. */
  get messageCount(): number {
    return this.lines.reduce((n, line) => n + (line.type === "msg" ? 1 : 0), 0);
  }
}
