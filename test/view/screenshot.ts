// `npm run screenshot`: the README's picture of the viewer, taken with the viewer tests' own
// tooling: tdx/punch-hole's page, the page timeline of the punched GPA open, scrolled to where KVM
// kills the TD. Writes docs/viewer-punch-hole.png.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { main } from "../../src/cli/main.ts";
import { launch, openViewer } from "./browser.ts";

const OUT = fileURLToPath(new URL("../../docs/viewer-punch-hole.png", import.meta.url));
const quiet = { out: () => {}, err: (text: string) => process.stderr.write(text) };

const dir = mkdtempSync(join(tmpdir(), "cocomem-screenshot-"));
const browser = await launch();
try {
  const log = join(dir, "punch-hole.jsonl");
  const html = join(dir, "punch-hole.html");
  await main(["run", "tdx/punch-hole", "--log", log], quiet);
  if ((await main(["view", log, "--out", html], quiet)) !== 0) throw new Error("cocomem view failed");
  const { page } = await openViewer(browser, html, { width: 1600, height: 900 });
  await page.fill("#f-gpa", "0x400000");
  await page.waitForFunction(() => !document.getElementById("shown")!.textContent!.startsWith("16002 of"));
  await page.locator('#rows a.gpa[data-addr="4194304"]').first().click();
  // The timeline's lifecycle entry: KVM kills the TD when the guest touches the punched page.
  await page.locator("#page-entries li", { hasText: "lifecycle vm-killed" }).locator("a.seq-link").click();
  await page.waitForTimeout(200);
  await page.screenshot({ path: OUT });
  console.log(OUT);
} finally {
  await browser.close();
  rmSync(dir, { recursive: true, force: true });
}
