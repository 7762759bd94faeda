/// <reference lib="dom" />
// The viewer page's script: reads the run from the page, draws the summary, the filters and the
// violations, and shows the log as a virtual list (TanStack Virtual): only the rows on screen are
// in the document, so a 100,000-line log scrolls as smoothly as a short one.
import { elementScroll, observeElementOffset, observeElementRect, Virtualizer } from "@tanstack/virtual-core";
import { Size } from "../../../protocol/scenario.ts";
import { isPartyOrAddress, knownType } from "../../log/query.ts";
import { DATA_ELEMENT_ID, type ViewData } from "../view-data.ts";
import { type Filters, Model } from "./model.ts";
import { frameHtml, lineHtml, pageHtml, summaryHtml, violationsHtml } from "./panels.ts";
import { laneWidthFor, plainText, ROW_HEIGHT, rowHtml, wordsOf } from "./rows.ts";

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

/** The run, out of the page (see html.ts for why it is packed). */
async function readData(): Promise<ViewData> {
  const packed = atob($(DATA_ELEMENT_ID).textContent?.trim() ?? "");
  const bytes = new Uint8Array(packed.length);
  for (let i = 0; i < packed.length; i++) bytes[i] = packed.charCodeAt(i);
  const unzip = new DecompressionStream("gzip");
  const writer = unzip.writable.getWriter();
  writer.write(bytes);
  writer.close();
  // Chunk by chunk: a third of the time Response.text() takes on the same stream.
  const reader = unzip.readable.getReader();
  const decoder = new TextDecoder();
  const parts: string[] = [];
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
    parts.push(decoder.decode(chunk.value, { stream: true }));
  parts.push(decoder.decode());
  return JSON.parse(parts.join("")) as ViewData;
}

const data = await readData();
const model: Model = new Model(data, (index) => plainText(wordsOf(model, index)));
const marks = new Map((data.replay?.marked ?? []).map((m) => [m.seq, m.text] as const));
/** Rows drawn with an extra class: the selected line and its pair, a violation and its evidence. */
const highlights = new Map<number, string>();
/** The violation focused last, for the n and p keys. */
let violationAt = -1;

$("summary").innerHTML = summaryHtml(model);
$("violations").innerHTML = violationsHtml(model);
$("violations-count").textContent = String(model.violations.length);
model.laneWidth = laneWidthFor(model.lanes.length, $("scroller").clientWidth);
$("rows").style.setProperty("--lane", `${model.laneWidth}px`);
$("lane-head").style.setProperty("--lane", `${model.laneWidth}px`);
$("lane-head").innerHTML = `<span class="seq-head">seq</span>${model.lanes
  // Narrow columns drop the party from the name (vcpu3, kvm); the full address is the tooltip.
  .map(
    (lane) =>
      `<span class="lane-name" title="${lane}">${model.laneWidth < 90 ? lane.replace(/^(guest|host)\//, "") : lane}</span>`,
  )
  .join("")}`;
$("lane-head").style.width = `${model.lanes.length * model.laneWidth + 900}px`;

// ---- The filters ----

const partySelect = $<HTMLSelectElement>("f-party");
partySelect.innerHTML = ["", "guest", "host", "trusted", ...model.lanes]
  .map((p) => `<option value="${p}">${p === "" ? "all parties" : p}</option>`)
  .join("");
const typeInput = $<HTMLInputElement>("f-type");
const gpaInput = $<HTMLInputElement>("f-gpa");
const effectsBox = $<HTMLInputElement>("f-effects");
const searchInput = $<HTMLInputElement>("f-search");

/** The filters as the bar shows them; a field that makes no sense is marked and left out. */
function readFilters(): Filters {
  const filters: Filters = { effects: effectsBox.checked };
  const party = partySelect.value;
  if (party !== "" && isPartyOrAddress(party)) filters.party = party;
  const type = typeInput.value.trim();
  typeInput.classList.toggle("invalid", type !== "" && !knownType(type));
  if (type !== "" && knownType(type)) filters.type = type;
  const gpaText = gpaInput.value.trim();
  const gpa = Size.safeParse(gpaText);
  gpaInput.classList.toggle("invalid", gpaText !== "" && !gpa.success);
  if (gpaText !== "" && gpa.success) filters.gpa = gpa.data;
  const search = searchInput.value.trim();
  if (search !== "") filters.search = search;
  return filters;
}

function applyFilters(): void {
  model.visible = model.filter(readFilters());
  $("shown").textContent = `${model.visible.length} of ${model.lines.length - (model.header ? 1 : 0)} lines`;
  virtualizer.setOptions({ ...virtualizer.options, count: model.visible.length });
  virtualizer.scrollToOffset(0);
  render();
}

function clearFilters(): void {
  partySelect.value = "";
  typeInput.value = "";
  gpaInput.value = "";
  searchInput.value = "";
  effectsBox.checked = true;
  applyFilters();
}

let typing: ReturnType<typeof setTimeout> | undefined;
for (const input of [typeInput, gpaInput, searchInput])
  input.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(applyFilters, 150);
  });
partySelect.addEventListener("change", applyFilters);
effectsBox.addEventListener("change", applyFilters);
$("f-clear").addEventListener("click", clearFilters);

// ---- The list ----

const scroller = $("scroller");
const spacer = $("spacer");
const rows = $("rows");

const virtualizer = new Virtualizer<HTMLElement, HTMLElement>({
  count: model.visible.length,
  getScrollElement: () => scroller,
  estimateSize: () => ROW_HEIGHT,
  scrollToFn: elementScroll,
  observeElementRect,
  observeElementOffset,
  overscan: 20,
  scrollPaddingStart: ROW_HEIGHT + 4,
  onChange: () => render(),
});

function render(): void {
  spacer.style.height = `${virtualizer.getTotalSize()}px`;
  const decor = { marks, highlights };
  rows.innerHTML = virtualizer
    .getVirtualItems()
    .map((item) => rowHtml(model, model.visible[item.index]!, item.start, decor))
    .join("");
}

/** The row position of a line in the list, clearing the filters if they hide it. */
function rowOf(seq: number): number | undefined {
  const index = model.indexOfSeq(seq);
  if (index === undefined) return undefined;
  const find = () => model.visible.indexOf(index);
  if (find() === -1) clearFilters();
  return find();
}

function jumpTo(seq: number, highlight = "focus"): void {
  const row = rowOf(seq);
  if (row === undefined || row === -1) return;
  for (const [s, h] of highlights) if (h === "focus") highlights.delete(s);
  highlights.set(seq, highlight);
  virtualizer.scrollToIndex(row, { align: "center" });
  render();
}

// ---- The side panel ----

function showSide(tab: "violations" | "detail", html?: string): void {
  if (html !== undefined) $("detail").innerHTML = html;
  for (const name of ["violations", "detail"]) {
    $(`tab-${name}`).classList.toggle("active", name === tab);
    $(name).hidden = name !== tab;
  }
}

function focusViolation(seq: number): void {
  violationAt = model.violations.findIndex((v) => v.seq === seq);
  highlights.clear();
  const violation = model.violations.find((v) => v.seq === seq);
  for (const e of violation?.evidence ?? []) highlights.set(e, "evidence");
  jumpTo(seq, "violation-focus");
  for (const li of document.querySelectorAll("#violations li"))
    li.classList.toggle("active", (li as HTMLElement).dataset.seq === String(seq));
}

function selectLine(seq: number): void {
  const index = model.indexOfSeq(seq);
  if (index === undefined) return;
  highlights.clear();
  highlights.set(seq, "selected");
  const pair = model.pair[index]!;
  const paired = pair === -1 ? undefined : model.lines[pair];
  if (paired && paired.type === "msg") highlights.set(paired.seq, "pair");
  showSide("detail", lineHtml(model, index));
  render();
}

document.addEventListener("click", (event) => {
  const target = event.target as HTMLElement;
  const link = target.closest<HTMLElement>("a[data-seq], a[data-addr]");
  if (link?.classList.contains("violation-link")) return focusViolation(Number(link.dataset.seq));
  if (link?.classList.contains("seq-link")) return jumpTo(Number(link.dataset.seq));
  if (link?.classList.contains("gpa")) return showSide("detail", pageHtml(model, Number(link.dataset.addr)));
  if (link?.classList.contains("hpa")) return showSide("detail", frameHtml(model, Number(link.dataset.addr)));
  const row = target.closest<HTMLElement>(".row");
  if (row) selectLine(Number(row.dataset.seq));
});
function stepViolation(by: number): void {
  const count = model.violations.length;
  if (count === 0) return;
  violationAt = (violationAt + by + count) % count;
  showSide("violations");
  focusViolation(model.violations[violationAt]!.seq);
}

// Keys, outside the text fields: / search, n and p the next and previous violation, Esc drops
// the highlights.
document.addEventListener("keydown", (event) => {
  const typing = event.target instanceof HTMLInputElement || event.target instanceof HTMLSelectElement;
  if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "/") {
    event.preventDefault();
    searchInput.focus();
  } else if (event.key === "n") stepViolation(1);
  else if (event.key === "p") stepViolation(-1);
  else if (event.key === "Escape") {
    highlights.clear();
    render();
  }
});
$("tab-violations").addEventListener("click", () => showSide("violations"));
$("tab-detail").addEventListener("click", () => showSide("detail"));

virtualizer._didMount();
virtualizer._willUpdate();
applyFilters();
if (model.violations.length === 0) showSide("detail", `<p class="none">Click a line, a GPA or an HPA.</p>`);
// For tests and the bench: the page is drawn and answers input from here on.
document.body.dataset.ready = String(performance.now());
