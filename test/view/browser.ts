// Real headless Chromium for the viewer's tests: Debian's `chromium` package (`.ci/run` installs
// it), driven by playwright-core, which never downloads a browser of its own. Started with the
// flags a closed network needs: no background connections, no component updates, no sync.
import { existsSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";

/** Where Debian puts it; COCOMEM_CHROMIUM names another. */
export const CHROMIUM = process.env.COCOMEM_CHROMIUM ?? "/usr/bin/chromium";

export async function launch(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set COCOMEM_CHROMIUM)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** Open a viewer page from disk and wait until it says it is drawn; every request it makes is kept. */
export async function openViewer(
  browser: Browser,
  file: string,
  viewport = { width: 1500, height: 900 },
): Promise<{ page: Page; requests: string[]; errors: string[] }> {
  const page = await browser.newPage({ viewport });
  const requests: string[] = [];
  const errors: string[] = [];
  page.on("request", (request) => requests.push(request.url()));
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(`file://${file}`);
  await page.waitForSelector("body[data-ready]", { timeout: 30_000 });
  return { page, requests, errors };
}

/**
 * Scroll the list from top to bottom, a screen at a time, and gather what `selector` matches in
 * the rows drawn at each stop (by `data-seq`): only the rows on screen are in the document.
 */
export function collectWhileScrolling(page: Page, selector: string): Promise<number[]> {
  return page.evaluate(async (sel) => {
    const scroller = document.getElementById("scroller")!;
    const seen = new Set<number>();
    const frame = () => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    scroller.scrollTop = 0;
    await frame();
    for (;;) {
      for (const el of document.querySelectorAll<HTMLElement>(`#rows ${sel}`))
        seen.add(Number(el.dataset.seq));
      if (scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 1) break;
      scroller.scrollTop += scroller.clientHeight - 40;
      await frame();
    }
    return [...seen].sort((a, b) => a - b);
  }, selector);
}
