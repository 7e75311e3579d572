/** Debian's chromium; another build is named with `--chromium` (the CLI) or `chromiumPath`. */
export const DEFAULT_CHROMIUM = "/usr/bin/chromium";
const ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

/** A report page printed to PDF by headless chromium (A4, backgrounds on, the inline SVG as vectors). */
export async function htmlToPdf(html: string, chromiumPath = DEFAULT_CHROMIUM): Promise<Uint8Array> {
  // Loaded here, not at the top: playwright-core costs every process that imports the report job
  // (`sluice up` among them) ~28 MB of JS heap and ~90 MB of RSS, and only a PDF needs it.
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ARGS });
  try {
    const page = await browser.newPage();
    await page.setContent(html, { waitUntil: "load" });
    return await page.pdf({ format: "A4", printBackground: true, margin: { top: "12mm", bottom: "12mm", left: "10mm", right: "10mm" } });
  } finally {
    await browser.close();
  }
}
