import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { subject } from "../subjects/catalog.ts";
import type { ReportData } from "./data.ts";
import { renderReport } from "./html.ts";
import { htmlToPdf } from "./pdf.ts";

/** What `sluice report ls`, the dashboard and `reports.<name>` say about one written report. */
export interface ReportEntry {
  readonly name: string;
  readonly from: string;
  readonly to: string;
  readonly generated_at: string;
  /** Paths of the files written (HTML, PDF). */
  readonly files: readonly string[];
  readonly events: number;
  readonly dead_letters: number;
  readonly anomalies: number;
  /** Why a PDF that was asked for is missing (no chromium, say); the HTML is there. */
  readonly pdf_error?: string;
}

export type ReportFormat = "html" | "pdf";

/** Reports live in `<state dir>/reports`, one `.json` entry next to each report's files. */
export const reportsDir = (stateDir: string): string => join(stateDir, "reports");

const stamp = (ms: number) => new Date(ms).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");

/** The format a file name asks for: .pdf or .html (anything else is a usage error for the caller). */
export function formatOf(path: string): ReportFormat | undefined {
  const ext = extname(path).toLowerCase();
  return ext === ".pdf" ? "pdf" : ext === ".html" || ext === ".htm" ? "html" : undefined;
}

/**
 * Writes the report: to `out` when given (its extension picks HTML or PDF), else as
 * `<name>-<period end>.html` and `.pdf` in `dir`; an entry `.json` beside them lists it.
 */
export async function writeReport(data: ReportData, opts: { dir: string; out?: string; formats?: readonly ReportFormat[]; chromiumPath?: string }): Promise<ReportEntry> {
  const html = renderReport(data);
  const base = opts.out ? opts.out.slice(0, opts.out.length - extname(opts.out).length) : join(opts.dir, `${data.name}-${stamp(data.period.toMs)}`);
  const formats = opts.out ? [formatOf(opts.out) ?? "html"] : opts.formats ?? ["html"];
  const files: string[] = [];
  mkdirSync(dirname(base), { recursive: true });
  let pdfError: string | undefined;
  for (const format of formats) {
    const path = opts.out ?? `${base}.${format}`;
    if (format === "html") {
      writeFileSync(path, html);
      files.push(path);
      continue;
    }
    try {
      writeFileSync(path, await htmlToPdf(html, opts.chromiumPath));
      files.push(path);
    } catch (err) {
      // The HTML of a scheduled run is still written; asked for a PDF alone (--out x.pdf), the caller sees the failure.
      if (opts.out) throw err;
      pdfError = `no PDF: ${(err as Error).message.split("\n")[0]}`;
    }
  }
  const entry: ReportEntry = {
    name: data.name,
    from: new Date(data.period.fromMs).toISOString(),
    to: new Date(data.period.toMs).toISOString(),
    generated_at: new Date(data.generatedAt).toISOString(),
    files,
    events: data.volumes.reduce((s, v) => s + v.events, 0),
    dead_letters: data.deadLetters.reduce((s, d) => s + d.count, 0),
    anomalies: data.anomalies.length,
    ...(pdfError ? { pdf_error: pdfError } : {}),
  };
  mkdirSync(opts.dir, { recursive: true });
  // Named after the file for --out (x.html and x.pdf are two reports), else after the report and period.
  writeFileSync(join(opts.dir, `${basename(opts.out ?? base)}.json`), JSON.stringify(entry, null, 2));
  return entry;
}

/** The newest `limit` reports in `dir`, newest first. */
export function listReports(dir: string, limit = 20): ReportEntry[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith(".json"));
  } catch {
    return [];
  }
  return names
    .map((n) => JSON.parse(readFileSync(join(dir, n), "utf8")) as ReportEntry)
    .sort((a, b) => b.to.localeCompare(a.to) || b.generated_at.localeCompare(a.generated_at))
    .slice(0, limit);
}

/** Tells subscribers of `reports.<name>` that a report is written (core publish: nobody listening loses nothing). */
export async function announceReport(nc: NatsConnection, entry: ReportEntry): Promise<void> {
  nc.publish(subject.report(entry.name), JSON.stringify(entry));
  await nc.flush();
}
