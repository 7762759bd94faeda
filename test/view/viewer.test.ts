// The viewer in a real browser (headless Chromium driven by playwright-core), on real runs' logs:
// its columns, one arrow per message, violations that scroll into view with their evidence, page
// timelines that list what `cocomem log --page` lists, filters, a log cut short, a replay file,
// and a 100,000-line log usable (the 2 s bound itself is in `npm run bench`; see READY_MS).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli } from "../cli/capture.ts";
import { longAcceptInput } from "../fixtures/scenarios.ts";
import { collectWhileScrolling, launch, openViewer } from "./browser.ts";

const dir = mkdtempSync(join(tmpdir(), "cocomem-view-"));
let browser: Browser;

beforeAll(async () => {
  browser = await launch();
});
afterAll(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface RawLine {
  type: string;
  seq?: number;
  from?: string;
  to?: string;
  kind?: string;
  msg?: { type: string };
  effect?: { e: string; by: string };
  responsible?: string;
  evidence?: number[];
}

/** Run a built-in scenario with its log written, and make its page. */
async function viewOf(
  scenario: string,
  ...options: string[]
): Promise<{ log: string; html: string; lines: RawLine[] }> {
  const name = scenario.replace(/\//g, "-");
  const log = join(dir, `${name}.jsonl`);
  await cli("run", scenario, "--log", log, ...options);
  const html = join(dir, `${name}.html`);
  const made = await cli("view", log, "--out", html);
  expect(made.code, made.err).toBe(0);
  expect(made.out).toBe(`${html}\n`);
  const lines = readFileSync(log, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as RawLine);
  return { log, html, lines };
}

const laneNames = (page: Page) => page.locator("#lane-head .lane-name").allTextContents();
const shown = async (page: Page) =>
  Number(/^(\d+) of/.exec((await page.locator("#shown").textContent())!)![1]);

/** Whether the row of `seq` is drawn inside the list's visible area. */
async function rowOnScreen(page: Page, seq: number): Promise<boolean> {
  return page.evaluate((s) => {
    const row = document.querySelector<HTMLElement>(`#rows .row[data-seq="${s}"]`);
    if (!row) return false;
    const box = row.getBoundingClientRect();
    const view = document.getElementById("scroller")!.getBoundingClientRect();
    return box.top >= view.top + 20 && box.bottom <= view.bottom;
  }, seq);
}

describe("cocomem view on a pKVM run with a violation (pkvm/share-leftover-secret)", () => {
  let page: Page;
  let lines: RawLine[];
  let requests: string[];
  let errors: string[];
  let html: string;
  beforeAll(async () => {
    ({ lines, html } = await viewOf("pkvm/share-leftover-secret"));
    ({ page, requests, errors } = await openViewer(browser, html));
  });

  it("is one file that fetches nothing and runs without errors", () => {
    expect(requests).toEqual([`file://${html}`]);
    expect(errors).toEqual([]);
  });

  it("has a column for every address the log names, guest to hardware", async () => {
    expect(await laneNames(page)).toEqual(["guest/vcpu0", "host/vmm", "host/kvm", "fw", "hw"]);
    const named = new Set(lines.flatMap((l) => [l.from, l.to, l.effect?.by].filter((a) => a !== undefined)));
    expect(new Set(await laneNames(page))).toEqual(named);
  });

  it("draws one arrow per message line, requests solid and responses dashed", async () => {
    const messages = lines.filter((l) => l.type === "msg");
    expect(await collectWhileScrolling(page, ".arrow")).toEqual(messages.map((m) => m.seq));
    const responses = messages.filter((m) => m.kind === "response").map((m) => m.seq);
    expect(await collectWhileScrolling(page, ".arrow.response")).toEqual(responses);
  });

  it("shows the header: scenario, seed, profile, outcome, who zeroed what", async () => {
    const facts = await page.locator("#summary dl").evaluate((dl) => {
      const names = [...dl.querySelectorAll("dt")].map((dt) => dt.textContent);
      return Object.fromEntries([...dl.querySelectorAll("dd")].map((dd, i) => [names[i], dd.textContent]));
    });
    expect(facts).toMatchObject({
      scenario: "pkvm/share-leftover-secret",
      platform: "pkvm",
      seed: "1",
      profile: "android16-6.12",
      transport: "inproc",
    });
    expect(await page.locator("#outcome b").textContent()).toBe("violation");
    // The run's one zeroing: the host kernel's fresh anonymous page (the log's only zero effect).
    const zeros = lines.filter((l) => l.effect?.e === "zero");
    expect(zeros).toHaveLength(1);
    expect(await page.locator("#zeroed tr").allTextContents()).toEqual([
      "host/kvm: anonymous page first touch1",
    ]);
  });

  it("jumps to a violation when it is clicked, its evidence highlighted", async () => {
    const violation = lines.find((l) => l.type === "violation")!;
    await page.locator("#violations a.violation-link").first().click();
    await page.waitForTimeout(100);
    expect(await rowOnScreen(page, violation.seq!)).toBe(true);
    expect(await page.locator(`#rows .row[data-seq="${violation.seq}"]`).getAttribute("class")).toContain(
      "violation-focus",
    );
    const evidence = await page
      .locator("#rows .row.evidence")
      .evaluateAll((rows) => rows.map((r) => Number((r as HTMLElement).dataset.seq)));
    expect(evidence.sort((a, b) => a - b)).toEqual(violation.evidence);
  });

  it("steps to a violation with n, drops highlights with Esc, and puts / in the search box", async () => {
    const violation = lines.find((l) => l.type === "violation")!;
    const row = page.locator(`#rows .row[data-seq="${violation.seq}"]`);
    await page.locator("#rows .row").first().click();
    await page.keyboard.press("Escape");
    expect(await page.locator("#rows .row.selected, #rows .row.violation-focus").count()).toBe(0);
    await page.keyboard.press("n");
    await page.waitForTimeout(100);
    expect(await row.getAttribute("class")).toContain("violation-focus");
    await page.keyboard.press("/");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("f-search");
    await page.locator("#f-search").blur();
  });

  it("links pKVM's frame numbers: gfn to the guest page, pfn to the host frame", async () => {
    const donate = lines.find((l) => l.msg?.type === "__pkvm_host_donate_guest")!;
    const { pfn, gfn } = donate.msg as unknown as { pfn: number; gfn: number };
    await page.fill("#f-type", "__pkvm_host_donate_guest");
    await page.waitForSelector(`#rows .row[data-seq="${donate.seq}"]`);
    const row = page.locator(`#rows .row[data-seq="${donate.seq}"]`);
    expect(await row.locator("a.gpa").getAttribute("data-addr")).toBe(String(gfn * 4096));
    expect(await row.locator("a.hpa").getAttribute("data-addr")).toBe(String(pfn * 4096));
    await page.click("#f-clear");
  });

  it("lists a violation's causes back from its latest evidence when it is selected", async () => {
    const violation = lines.find((l) => l.type === "violation")!;
    await page.locator("#violations a.violation-link").first().click();
    await page.locator(`#rows .row[data-seq="${violation.seq}"] .seq`).click();
    const causes = await page
      .locator("#detail ol.causes li a.seq-link")
      .evaluateAll((links) => links.map((a) => Number((a as HTMLElement).dataset.seq)));
    expect(causes[0]).toBe(Math.max(...violation.evidence!));
  });

  it("searches the words the rows show as well as the lines as cocomem log prints them", async () => {
    // Rows read "fw: stage-2 4K ...": cocomem log prints the same effects as "stage2 gpa=...".
    const stage2 = lines.filter((l) => l.effect?.e === "stage2").length;
    expect(stage2).toBeGreaterThan(1);
    await page.fill("#f-search", "stage-2");
    await page.waitForFunction(
      (n) => document.getElementById("shown")!.textContent!.startsWith(`${n} of`),
      stage2,
    );
    await page.click("#f-clear");
  });

  it("filters by party, type, effects and text, and says how many lines it shows", async () => {
    const all = lines.filter((l) => l.type !== "header").length;
    expect(await shown(page)).toBe(all);
    await page.selectOption("#f-party", "fw");
    const byFw = lines.filter(
      (l) => l.from === "fw" || l.to === "fw" || l.effect?.by === "fw" || l.responsible === "fw",
    );
    expect(await shown(page)).toBe(byFw.length);
    await page.selectOption("#f-party", "");
    await page.fill("#f-type", "guest.access");
    const accesses = lines.filter((l) => l.msg?.type === "guest.access").length;
    expect(accesses).toBeGreaterThan(1);
    await page.waitForFunction(
      (n) => document.getElementById("shown")!.textContent!.startsWith(`${n} of`),
      accesses,
    );
    const drawn = await page.locator("#rows .row .words").allTextContents();
    expect(drawn).toHaveLength(accesses);
    for (const words of drawn) expect(words).toMatch(/^guest\.access /);
    await page.fill("#f-type", "");
    await page.uncheck("#f-effects");
    expect(await shown(page)).toBe(lines.filter((l) => l.type !== "header" && l.type !== "effect").length);
    await page.check("#f-effects");
    await page.fill("#f-search", "secret-a");
    await page.waitForFunction(
      (n) => !document.getElementById("shown")!.textContent!.startsWith(`${n} of`),
      all,
    );
    for (const words of await page.locator("#rows .row .words").allTextContents())
      expect(words).toContain("secret-a");
    await page.click("#f-clear");
    expect(await shown(page)).toBe(all);
  });
});

describe("cocomem view on a TDX run (tdx/punch-hole)", () => {
  let page: Page;
  let log: string;
  let lines: RawLine[];
  beforeAll(async () => {
    let html: string;
    ({ log, html, lines } = await viewOf("tdx/punch-hole"));
    ({ page } = await openViewer(browser, html));
  });

  it("has the guest's vCPU and kernel, the VMM, KVM, the TDX module and the hardware as columns", async () => {
    expect(await laneNames(page)).toEqual([
      "guest/vcpu0",
      "guest/kernel",
      "host/vmm",
      "host/kvm",
      "fw",
      "hw",
    ]);
  });

  it("pairs a request with its response: selecting one highlights the other and shows its causes", async () => {
    // The VMM's hole punch and KVM's answer to it, found in the log by content.
    const punch = lines.find((l) => l.msg?.type === "fallocate" && l.kind === "request")!;
    const answer = lines.find((l) => l.msg?.type === "fallocate" && l.kind === "response")!;
    await page.fill("#f-type", "fallocate");
    await page.waitForFunction(() => document.getElementById("shown")!.textContent!.startsWith("2 of"));
    expect(await page.locator(`#rows .row[data-seq="${punch.seq}"] .pair`).textContent()).toBe(
      `answered #${answer.seq}`,
    );
    expect(await page.locator(`#rows .row[data-seq="${answer.seq}"] .pair`).textContent()).toBe(
      `answers #${punch.seq}`,
    );
    await page.locator(`#rows .row[data-seq="${punch.seq}"] .seq`).click();
    expect(await page.locator(`#rows .row[data-seq="${punch.seq}"]`).getAttribute("class")).toContain(
      "selected",
    );
    expect(await page.locator(`#rows .row[data-seq="${answer.seq}"]`).getAttribute("class")).toContain(
      "pair",
    );
    // Its causes, step by step back: the KVM_RUN exit that carried the guest's POST comes first.
    const causes = await page
      .locator("#detail ol.causes li a.seq-link")
      .evaluateAll((links) => links.map((a) => Number((a as HTMLElement).dataset.seq)));
    const exit = lines
      .filter((l) => l.msg?.type === "KVM_RUN" && l.kind === "response" && l.seq! < punch.seq!)
      .at(-1)!;
    expect(causes[0]).toBe(exit.seq);
    await page.click("#f-clear");
  });

  it("lists the lines naming a frame when an HPA is clicked, as cocomem log --hpa does", async () => {
    await page.fill("#f-type", "TDH.MEM.PAGE.REMOVE");
    await page.fill("#f-gpa", "0x400000");
    await page.waitForFunction(() => document.getElementById("shown")!.textContent!.startsWith("4 of"));
    const link = page.locator("#rows a.hpa").first();
    const hpa = Number(await link.getAttribute("data-addr"));
    await link.click();
    const text = (await cli("log", log, "--hpa", String(hpa))).out.trim().split("\n");
    const listed = await page
      .locator("#page-entries li")
      .evaluateAll((items) => items.map((li) => Number((li as HTMLElement).dataset.seq)));
    expect(listed).toEqual(text.map((row) => Number(/^\s*(\d+)/.exec(row)![1])));
    expect(await page.locator("#page-title").textContent()).toBe(
      `frame 0x${hpa.toString(16)} (${text.length} lines)`,
    );
    await page.click("#f-clear");
  });

  it("counts who zeroed what in the header, as the log's zero effects say", async () => {
    const counts = new Map<string, number>();
    for (const l of lines)
      if (l.effect?.e === "zero") {
        const e = l.effect as unknown as { by: string; why: string; pages: number };
        counts.set(`${e.by}: ${e.why}`, (counts.get(`${e.by}: ${e.why}`) ?? 0) + e.pages);
      }
    const rows = await page
      .locator("#zeroed tr")
      .evaluateAll((trs) =>
        trs.map((tr) => [tr.children[0]!.textContent, Number(tr.children[1]!.textContent)] as const),
      );
    expect(new Map(rows)).toEqual(counts);
  });

  it("opens a GPA's page timeline listing the same lines as cocomem log --page", async () => {
    await page.fill("#f-gpa", "0x400000");
    await page.fill("#f-type", "TDH.MEM.PAGE.REMOVE");
    // The page is removed twice, by the hole punch and at teardown: the requests and their answers.
    await page.waitForFunction(() => document.getElementById("shown")!.textContent!.startsWith("4 of"));
    await page.locator("#rows a.gpa").first().click();
    const text = (await cli("log", log, "--page", "0x400000")).out.trim().split("\n");
    const expected = text.slice(1).map((row) => Number(/^\s*(\d+)/.exec(row)![1]));
    expect(expected.length).toBeGreaterThan(10);
    const listed = await page
      .locator("#page-entries li")
      .evaluateAll((items) => items.map((li) => Number((li as HTMLElement).dataset.seq)));
    expect(listed).toEqual(expected);
    expect(await page.locator("#page-title").textContent()).toBe(text[0]);
  });

  it("scrolls to a line when its seq is clicked in the timeline, clearing filters that hide it", async () => {
    const kill = lines.find(
      (l) => l.effect?.e === "lifecycle" && (l.effect as { state?: string }).state === "vm-killed",
    )!;
    await page.locator(`#page-entries li[data-seq="${kill.seq}"] a.seq-link`).click();
    await page.waitForTimeout(100);
    expect(await rowOnScreen(page, kill.seq!)).toBe(true);
    expect(await page.inputValue("#f-gpa")).toBe("");
  });
});

describe("cocomem view on what is not a whole log", () => {
  it("shows a log cut short (a killed run) as far as it goes, and says it is cut", async () => {
    const { log } = await viewOf("pkvm/share-unshare");
    const text = readFileSync(log, "utf8").trim().split("\n");
    const cut = join(dir, "cut.jsonl");
    // Killed mid-write: the last whole line is followed by half a line.
    writeFileSync(cut, `${text.slice(0, 30).join("\n")}\n${text[30]!.slice(0, 25)}`);
    const html = join(dir, "cut.html");
    expect((await cli("view", cut, "--out", html)).code).toBe(0);
    const { page } = await openViewer(browser, html);
    expect(await page.locator("#cut").textContent()).toBe(
      "This log is cut: line 31 is cut short: the run was killed. Shown as far as it goes.",
    );
    expect(await shown(page)).toBe(29);
    expect(await page.locator("#outcome").count()).toBe(0);
    await page.close();
  });
});

describe("cocomem view on a run with sixteen vCPUs (pkvm/sixteen-vcpus-convert)", () => {
  it("narrows the columns so the words stay in view, keeping the seq column in place", async () => {
    const { html } = await viewOf("pkvm/sixteen-vcpus-convert");
    const { page } = await openViewer(browser, html);
    const names = await laneNames(page);
    expect(names).toEqual([...Array.from({ length: 16 }, (_, i) => `vcpu${i}`), "vmm", "kvm", "fw", "hw"]);
    const box = await page.evaluate(() => {
      const scroller = document.getElementById("scroller")!.getBoundingClientRect();
      const words = document.querySelector("#rows .row .words")!.getBoundingClientRect();
      return { words: words.left, right: scroller.right };
    });
    // At least 150 px of words on screen beside the twenty columns.
    expect(box.words).toBeLessThan(box.right - 150);
    await page.evaluate(() => {
      document.getElementById("scroller")!.scrollLeft = 400;
    });
    await page.waitForTimeout(50);
    const seqLeft = await page.evaluate(
      () =>
        document.querySelector("#rows .row .seq")!.getBoundingClientRect().left -
        document.getElementById("scroller")!.getBoundingClientRect().left,
    );
    expect(seqLeft).toBe(0);
    await page.close();
  });
});

describe("cocomem view of a part of a log", () => {
  it("shows the seqs asked for, the verdict, and says it is a part", async () => {
    const { log, lines } = await viewOf("tdx/explore-secret");
    const html = join(dir, "part.html");
    expect((await cli("view", log, "--from", "40", "--to", "59", "--out", html)).code).toBe(0);
    const { page } = await openViewer(browser, html);
    expect(await page.locator("#slice").textContent()).toBe(
      `A part of the log: seqs 40 to 59 of its ${lines.length} lines, with the verdict (cocomem view --from/--to).`,
    );
    const seqs = await collectWhileScrolling(page, ".row");
    expect(seqs).toEqual([...Array.from({ length: 20 }, (_, i) => 40 + i), lines.at(-1)!.seq]);
    await page.close();
  });
});

describe("cocomem view on an explorer replay file", () => {
  it("replays it and shows the story, the host's departures marked in the log", async () => {
    const out = join(dir, "found");
    const explored = await cli(
      "explore",
      "pkvm/explore-share",
      "--guest-policy",
      "naive",
      "--runs",
      "400",
      "--workers",
      "1",
      "--first",
      "--no-progress",
      "--out",
      out,
    );
    expect(explored.code, explored.err).toBe(1);
    const file = /replay: cocomem replay (\S+)/.exec(explored.out)![1]!;
    // The story's departure: "#N  host  sends host.access(op=read, ...)", N the line of its message.
    const departure = /#(\d+)\s+host\s+sends (host\.access)\(op=read/.exec(explored.out)!;
    const html = join(dir, "replay.html");
    const made = await cli("view", file, "--out", html);
    expect(made.code, made.err).toBe(0);
    const { page } = await openViewer(browser, html);
    expect(await page.locator("#replay").textContent()).toContain(
      "reproduced confidentiality: no guest secret reaches the host (guest)",
    );
    expect(await page.locator("#replay li").count()).toBe(
      explored.out.split("\n").filter((l) => /^ {2}#\d+/.test(l)).length,
    );
    const marked = await page.locator("#rows .row.marked").evaluateAll((rows) =>
      rows.map((r) => ({
        seq: Number((r as HTMLElement).dataset.seq),
        words: r.querySelector(".words")!.textContent!,
      })),
    );
    expect(marked).toHaveLength(1);
    expect(marked[0]!.seq).toBe(Number(departure[1]));
    expect(marked[0]!.words).toMatch(/^hosthost\.access op=read /);
    await page.close();
  });
});

/**
 * The bound is 2 s for a 100,000-line log; `npm run bench` holds it (bench/viewer.ts: median
 * 1.15 s on a quiet machine). This machine ran the same page at 1.1-2.4 s within one afternoon, so
 * the test allows twice the bound: it catches a page that draws every row or blocks on the whole
 * log, not the machine's mood. The time is printed.
 */
const READY_MS = 2 * 2000;

describe("cocomem view on a 100,000-line log", () => {
  it("is drawn and answers input within the bound, and reaches the last line", async () => {
    const scenario = join(dir, "long.json");
    // A 4K lazy accept of 13,200K: 3,300 pages, about 31 lines each.
    writeFileSync(scenario, JSON.stringify(longAcceptInput("13200K")));
    const log = join(dir, "long.jsonl");
    expect((await cli("run", scenario, "--log", log)).code).toBe(0);
    const lines = readFileSync(log, "utf8").trim().split("\n");
    expect(lines.length).toBeGreaterThanOrEqual(100_000);
    const html = join(dir, "long.html");
    expect((await cli("view", log, "--out", html)).code).toBe(0);
    const { page } = await openViewer(browser, html);
    // performance.now() when the page was drawn: milliseconds since the file began to load.
    const ready = Number(await page.evaluate(() => document.body.dataset.ready));
    console.log(`viewer: a ${lines.length}-line log usable ${Math.round(ready)} ms after opening`);
    expect(ready).toBeLessThanOrEqual(READY_MS);
    // Only what is on screen is in the document.
    expect(await page.locator("#rows .row").count()).toBeLessThan(200);
    expect(await shown(page)).toBe(lines.length - 1);
    await page.evaluate(() => {
      const scroller = document.getElementById("scroller")!;
      scroller.scrollTop = scroller.scrollHeight;
    });
    const verdict = JSON.parse(lines.at(-1)!) as RawLine;
    await page.waitForSelector(`#rows .row.t-verdict[data-seq="${verdict.seq}"]`);
    await page.fill("#f-type", "TDG.MEM.PAGE.ACCEPT");
    const accepts = lines.filter((l) => l.includes('"type":"TDG.MEM.PAGE.ACCEPT"')).length;
    await page.waitForFunction(
      (n) => document.getElementById("shown")!.textContent!.startsWith(`${n} of`),
      accepts,
    );
    await page.close();
  });
});
