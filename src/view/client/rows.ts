// One row of the viewer as HTML: its seq, the party columns with the message's arrow (requests
// solid, responses dashed) or the effect's mark on its party's column, and the line in words.
// Addresses in the words are links: a GPA opens its page timeline, an HPA the frame's lines.
import { PAGE_4K } from "../../../protocol/common.ts";
import { formatFields, gpaSpans, hex, hpaSpans, privateAlias } from "../../log/query.ts";
import { describeEffect } from "../../log/timeline.ts";
import { esc } from "../escape.ts";
import type { Model } from "./model.ts";

export const ROW_HEIGHT = 20;
/** A column's width: full with a few columns, narrower with many vCPUs so the words stay in view. */
export const laneWidthFor = (lanes: number, listWidth: number): number =>
  Math.max(40, Math.min(104, Math.floor(listWidth / 2 / Math.max(1, lanes))));
const laneX = (model: Model, lane: number): number => lane * model.laneWidth + model.laneWidth / 2;

const ENTITIES: Record<string, string> = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"' };

/** HTML made here back to the text it shows. */
export const plainText = (html: string): string =>
  html.replace(/<[^>]*>/g, "").replace(/&(?:amp|lt|gt|quot);/g, (e) => ENTITIES[e]!);

/** A link that jumps to a line. */
export const seqLink = (seq: number): string => `<a class="seq-link" data-seq="${seq}">#${seq}</a>`;

/** The line's words, HTML: every hex token that is one of its GPAs or HPAs becomes a link. */
export function wordsOf(model: Model, index: number): string {
  const a = model.annotated[index]!;
  const { line } = a;
  let text: string;
  let extra = "";
  switch (line.type) {
    case "msg": {
      text = `${line.msg.type} ${line.kind === "response" ? "↩ " : ""}${formatFields(line.msg, ["type"])}`;
      const pair = model.pair[index]!;
      if (pair !== -1) {
        const seq = model.lines[pair]!.type === "msg" ? (model.lines[pair] as { seq: number }).seq : -1;
        extra = ` <span class="pair">${line.kind === "request" ? "answered" : "answers"} ${seqLink(seq)}</span>`;
      }
      break;
    }
    case "effect": {
      text = `${a.by ?? "?"}: ${describeEffect(line.effect, a.cause)}`;
      if (a.cause)
        extra = ` <span class="cause">for ${esc(a.cause.from)} ${esc(a.cause.msg.type)} ${seqLink(a.cause.seq)}</span>`;
      break;
    }
    case "violation":
      text = `VIOLATION ${line.monitor}/${line.invariant} (${line.responsible})${line.gpa === undefined ? "" : ` gpa=${hex(line.gpa)}`}${line.hpa === undefined ? "" : ` hpa=${hex(line.hpa)}`}: ${line.detail}`;
      extra = ` <span class="evidence-list">evidence ${line.evidence.map(seqLink).join(" ")}</span>`;
      break;
    case "verdict":
      text = `VERDICT ${line.outcome}: ${line.reason} (${line.steps} steps, ${line.violations} violations)`;
      break;
    case "rejected":
      text = `REJECTED from ${line.from}: ${line.reason}`;
      break;
    default:
      text = "header";
  }
  return linkAddresses(model, index, esc(text)) + extra;
}

/** Frame-number fields (pKVM's hypercalls): a page number, linked to the address it names. */
const FRAME_NUMBERS: Record<string, "gpa" | "hpa"> = { gfn: "gpa", pfn: "hpa" };

const link = (kind: "gpa" | "hpa", value: number, token: string): string =>
  kind === "gpa"
    ? `<a class="gpa" data-addr="${value}" title="page timeline of GPA 0x${value.toString(16)}">${token}</a>`
    : `<a class="hpa" data-addr="${value}" title="lines naming frame 0x${value.toString(16)}">${token}</a>`;

/**
 * Hex tokens that are GPAs (either alias) or HPAs of the line (or of the request it answers):
 * `gfn=`/`pfn=` are frame numbers (the address is 4096 times the token), any other token is
 * matched against the addresses the line names.
 */
function linkAddresses(model: Model, index: number, html: string): string {
  const a = model.annotated[index]!;
  const about = a.request ? [a.line, a.request] : [a.line];
  const gpas = new Set(about.flatMap((l) => gpaSpans(l, model.sharedBit).map((s) => s.start)));
  const hpas = new Set(about.flatMap((l) => hpaSpans(l).map((s) => s.start)));
  if (gpas.size === 0 && hpas.size === 0) return html;
  return html.replace(/\b(?:(\w+)=)?(0x[0-9a-f]+)\b/g, (whole, key: string | undefined, token: string) => {
    const prefix = key === undefined ? "" : `${key}=`;
    const value = Number(token);
    const frame = key === undefined ? undefined : FRAME_NUMBERS[key];
    if (frame) return prefix + link(frame, value * PAGE_4K, token);
    if (gpas.has(privateAlias(value, model.sharedBit))) return prefix + link("gpa", value, token);
    if (hpas.has(value)) return prefix + link("hpa", value, token);
    return whole;
  });
}

/** The arrow or mark in the party columns. */
function laneMarks(model: Model, index: number): string {
  const a = model.annotated[index]!;
  const { line } = a;
  if (line.type === "msg") {
    const from = model.laneOf(line.from);
    const to = model.laneOf(line.to);
    const left = Math.min(laneX(model, from), laneX(model, to));
    const width = Math.abs(laneX(model, to) - laneX(model, from));
    const dir = to >= from ? "right" : "left";
    return `<div class="arrow ${line.kind} ${dir}" data-seq="${line.seq}" style="left:${left}px;width:${width}px"></div>`;
  }
  const kind = line.type === "effect" ? line.effect.e : line.type === "violation" ? "violation" : line.type;
  const lane = model.laneOf(line.type === "violation" ? line.responsible : a.by);
  if (lane === -1) return "";
  return `<span class="chip k-${kind}" style="left:${laneX(model, lane)}px">${esc(kind)}</span>`;
}

/** The whole row, placed at `top` in the list. */
export function rowHtml(
  model: Model,
  index: number,
  top: number,
  decor: { marks: ReadonlyMap<number, string>; highlights: ReadonlyMap<number, string> },
): string {
  const line = model.lines[index]!;
  const seq = line.type === "header" ? -1 : line.seq;
  const mark = decor.marks.get(seq);
  const classes = [`row t-${line.type}`];
  if (line.type === "effect") classes.push(`k-${line.effect.e}`);
  if (mark !== undefined) classes.push("marked");
  const highlight = decor.highlights.get(seq);
  if (highlight !== undefined) classes.push(highlight);
  const badge = mark === undefined ? "" : `<span class="badge" title="${esc(mark)}">host</span>`;
  return `<div class="${classes.join(" ")}" style="top:${top}px" data-seq="${seq}"><span class="seq">${seq}</span><div class="lanes" style="width:${model.lanes.length * model.laneWidth}px">${laneMarks(model, index)}</div><span class="words">${badge}${wordsOf(model, index)}</span></div>`;
}
