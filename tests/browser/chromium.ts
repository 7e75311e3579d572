// Debian's chromium driven by playwright-core (no browser download), for every browser test.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
const ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}

/** A directory for this run's screenshots, under the OS temp dir; printed so a person can look. */
export function screenshotDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `sluice-${name}-`));
  console.log(`screenshots: ${dir}`);
  return dir;
}

/** Console errors and uncaught exceptions of a page, collected from its first load on. */
export function consoleErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (err) => errors.push(err.message));
  return errors;
}

/**
 * Pixels drawn on the canvases inside `selector` (uPlot paints series and axes there). Written as
 * page source: the tree's TypeScript has no DOM types.
 */
export async function drawnPixels(page: Page, selector: string): Promise<number> {
  return page.evaluate(`(() => {
    let drawn = 0;
    for (const canvas of document.querySelectorAll(${JSON.stringify(selector)} + " canvas")) {
      const ctx = canvas.getContext("2d");
      if (!ctx || canvas.width === 0) continue;
      const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) drawn++;
    }
    return drawn;
  })()`);
}
