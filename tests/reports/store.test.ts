// Writing and listing reports without a pipeline: the HTML of a scheduled run survives a missing
// chromium (the entry says why there is no PDF), `--out x.pdf` fails loudly, ls lists newest first.
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { ReportData } from "../../reports/data.ts";
import { listReports, writeReport } from "../../reports/store.ts";

const HOUR = 3_600_000;
const T = Date.UTC(2026, 11, 1, 6, 0, 0);

function data(toMs: number): ReportData {
  return {
    name: "daily", period: { fromMs: toMs - 24 * HOUR, toMs }, generatedAt: toMs + 60_000,
    volumes: [{ source: "iot", events: 1200, keys: 5, perSecond: 1200 / 86_400 }],
    timeline: { bucketMs: HOUR, series: [{ source: "iot", points: [[toMs - 2 * HOUR, 700], [toMs - HOUR, 500]] }] },
    quality: [], deadLetters: [{ actor: "validate", code: "schema", count: 3 }], anomalies: [], forecasts: [], lag: [],
  };
}

test("a missing chromium leaves the HTML and says why there is no PDF; --out .pdf throws", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sluice-report-store-"));
  const entry = await writeReport(data(T), { dir, formats: ["html", "pdf"], chromiumPath: join(dir, "no-chromium") });
  assert.equal(entry.files, [join(dir, "daily-20261201T060000Z.html")]);
  assert.ok(existsSync(entry.files[0]));
  assert.match(entry.pdf_error ?? "", /^no PDF: /);
  assert.is(entry.events, 1200);
  assert.is(entry.dead_letters, 3);
  try {
    await writeReport(data(T), { dir, out: join(dir, "x.pdf"), chromiumPath: join(dir, "no-chromium") });
    assert.unreachable("a PDF asked for by name must not fail silently");
  } catch (err) {
    assert.not.instance(err, assert.Assertion);
  }
});

test("ls: newest period first, at most the limit", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sluice-report-store-"));
  for (const day of [0, 2, 1]) await writeReport(data(T + day * 24 * HOUR), { dir });
  const listed = listReports(dir, 2);
  assert.equal(listed.map((e) => e.to), [new Date(T + 2 * 24 * HOUR).toISOString(), new Date(T + 24 * HOUR).toISOString()]);
  assert.equal(listReports(join(dir, "none")), []);
});

test.run();
