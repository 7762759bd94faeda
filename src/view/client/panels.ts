// The viewer's panels as HTML: the run's summary (scenario, seed, profile, outcome, who zeroed
// what, a replay's story), the violations list, and the side panel's page timeline, frame lines
// and line details. Every seq shown is a link that jumps to its line.
import { hex, lineMatcher } from "../../log/query.ts";
import { formatTimeline, TimelineBuilder } from "../../log/timeline.ts";
import { zeroings } from "../../log/zeroings.ts";
import { esc } from "../escape.ts";
import type { Model } from "./model.ts";
import { seqLink, wordsOf } from "./rows.ts";

/** `#123` at the start of a story line, as a link. */
const linkLeadingSeq = (text: string): string =>
  esc(text).replace(/^#(\d+)/, (_, seq: string) => seqLink(Number(seq)));

export function summaryHtml(model: Model): string {
  const { header, verdict, data } = model;
  const facts = header
    ? [
        ["scenario", header.scenario],
        ["platform", header.platform],
        ["profile", header.profile],
        ["seed", String(header.seed)],
        ["transport", header.transport],
        ...Object.entries(header.options).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
        ["cocomem", header.cocomem],
      ]
    : [];
  const outcome = verdict
    ? `<div class="outcome o-${esc(verdict.outcome)}" id="outcome"><b>${esc(verdict.outcome)}</b>: ${esc(verdict.reason)}${verdict.ending ? ` <span class="ending">(the run itself: ${esc(verdict.ending.outcome)}, ${esc(verdict.ending.reason)})</span>` : ""} <span class="steps">${verdict.steps} steps, ${verdict.violations} violations</span></div>`
    : "";
  const cut = data.cut
    ? `<div class="cut" id="cut">This log is cut: ${esc(data.cut)}. Shown as far as it goes.</div>`
    : "";
  const { slice } = data;
  const part = slice
    ? `<div class="cut" id="slice">A part of the log: seqs ${slice.from ?? 0} to ${slice.to ?? "the end"} of its ${slice.of} lines, with the verdict (cocomem view --from/--to).</div>`
    : "";
  const counts = zeroings(model.lines);
  const zeroRows = [...counts.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([who, pages]) => `<tr><td>${esc(who)}</td><td class="n">${pages}</td></tr>`)
    .join("");
  const zeroTable = `<table class="zeroed" id="zeroed"><caption>who zeroed what (pages)</caption>${zeroRows || '<tr><td colspan="2">nobody zeroed a page</td></tr>'}</table>`;
  const replay = data.replay
    ? `<div class="replay" id="replay"><b>explorer counterexample${data.replay.shrunk ? " (shrunk)" : ""}</b>: ${esc(data.replay.result)}<ol>${data.replay.story.map((s) => `<li>${linkLeadingSeq(s)}</li>`).join("")}</ol></div>`
    : "";
  return `<div class="facts"><h1>${esc(header?.scenario ?? data.source)}</h1><dl>${facts.map(([k, v]) => `<dt>${esc(k!)}</dt><dd>${esc(v!)}</dd>`).join("")}</dl><div class="source">${esc(data.source)}: ${model.lines.length} lines, ${model.messageCount} messages</div>${outcome}${cut}${part}</div>${zeroTable}${replay}`;
}

export function violationsHtml(model: Model): string {
  if (model.violations.length === 0) return `<p class="none">No violations.</p>`;
  return `<ol class="violations">${model.violations
    .map(
      (v) =>
        `<li data-seq="${v.seq}"><a class="violation-link" data-seq="${v.seq}">#${v.seq} ${esc(v.monitor)}/${esc(v.invariant)}</a> <span class="blame">${esc(v.responsible)}</span><div>${esc(v.detail)}</div><div class="evidence-list">evidence ${v.evidence.map(seqLink).join(" ")}</div></li>`,
    )
    .join("")}</ol>`;
}

/** The page timeline of a GPA, as `cocomem log --page` gives it (the verdict last). */
export function pageHtml(model: Model, gpa: number): string {
  // Over the lines the model annotated already: pageTimeline() would annotate the whole log again.
  const builder = new TimelineBuilder(gpa, {}, () => model.sharedBit);
  for (const a of model.annotated) builder.add(a);
  const timeline = builder.finish();
  const [title] = formatTimeline(timeline);
  const shown = timeline.verdict ? [...timeline.entries, timeline.verdict] : timeline.entries;
  const rows = shown.map(
    (e) =>
      `<li data-seq="${e.seq}">${seqLink(e.seq)} <span class="by">${esc(e.by)}</span> ${esc(e.text)}${e.cause ? ` <span class="cause">[${esc(e.cause)}]</span>` : ""}${e.ledTo === undefined ? "" : ` <span class="cause">[led to ${seqLink(e.ledTo)}]</span>`}${e.backing === undefined ? "" : ` <span class="backing">=&gt; backed by ${hex(e.backing)}</span>`}</li>`,
  );
  return `<h2 id="page-title">${esc(title!)}</h2><ol class="timeline" id="page-entries">${rows.join("")}</ol>`;
}

/** Every line naming a host frame, as `cocomem log --hpa` gives them. */
export function frameHtml(model: Model, hpa: number): string {
  const keep = lineMatcher({ hpa }, model.sharedBit);
  const rows: string[] = [];
  model.annotated.forEach((a, i) => {
    if (a.line.type !== "header" && keep(a))
      rows.push(`<li data-seq="${a.line.seq}">${seqLink(a.line.seq)} ${wordsOf(model, i)}</li>`);
  });
  return `<h2 id="page-title">frame ${hex(hpa)} (${rows.length} lines)</h2><ol class="timeline" id="page-entries">${rows.join("")}</ol>`;
}

/** How many steps of a line's causes the details list. */
const CAUSE_STEPS = 12;

/** A line in full: its words, its JSON, and what caused it, step by step back. */
export function lineHtml(model: Model, index: number): string {
  const line = model.lines[index]!;
  const causes: string[] = [];
  for (
    let at = model.causeOf(index);
    at !== undefined && causes.length < CAUSE_STEPS;
    at = model.causeOf(at)
  ) {
    const cause = model.lines[at]!;
    if (cause.type === "header") break;
    causes.push(`<li>${seqLink(cause.seq)} ${esc(model.textOf(at).replace(/^\s*\d+\s+/, ""))}</li>`);
  }
  const why = causes.length > 0 ? `<h3>caused by</h3><ol class="causes">${causes.join("")}</ol>` : "";
  return `<h2>line ${line.type === "header" ? "header" : `#${line.seq}`}</h2><p class="words">${wordsOf(model, index)}</p>${why}<pre>${esc(JSON.stringify(line, null, 2))}</pre>`;
}
