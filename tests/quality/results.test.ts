import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { insertRows, migrate, openClickHouse, runQuery, type OpenClickHouse } from "../../clickhouse/index.ts";
import { dqResultRow, type DqResultRecord } from "../../clickhouse/rows-quality.ts";
import { dqReportQuery } from "../../quality/report.ts";
import { ClickHouseServer } from "../harness/clickhouse-server.ts";

const MINUTE = Date.parse("2026-11-27T10:00:00Z");
const record = (over: Partial<DqResultRecord>): DqResultRecord => ({
  report_id: "r1", minute: MINUTE, source: "iot", expectation: "fresh", kind: "freshness", severity: "reject",
  evaluated: 10, failed: 2, sample_event_id: "e-1", sample_reason: "/ts expected at most 1h before ingest, got 2h before", reported_at: MINUTE + 5_000, ...over,
});

async function roundTrip(ch: OpenClickHouse): Promise<void> {
  await migrate(ch.client, ch.caps);
  const rows = [record({}), record({ report_id: "r2", evaluated: 5, failed: 0, sample_reason: "" }), record({ report_id: "r3", minute: MINUTE + 60_000, failed: 1, sample_reason: "newest 'quoted' \\ reason" }), record({ expectation: "range", kind: "range", severity: "warn", failed: 0 })];
  await insertRows(ch.client, "dq_results", rows.map(dqResultRow));
  await insertRows(ch.client, "dq_results", [dqResultRow(rows[0])]); // a redelivered report replaces itself
  const report = await runQuery(ch.client, dqReportQuery({ sinceMs: MINUTE }));
  const byName = Object.fromEntries(report.rows.map((r) => [String(r[1]), r.map(String)]));
  assert.equal(byName.fresh.slice(4, 8), ["25", "3", "12", "newest 'quoted' \\ reason"]);
  assert.equal(byName.range.slice(3, 6), ["warn", "10", "0"]);
  assert.is((await runQuery(ch.client, dqReportQuery({ sinceMs: MINUTE + 120_000 }))).rows.length, 0);
  assert.is((await runQuery(ch.client, dqReportQuery({ sinceMs: MINUTE, source: "txn" }))).rows.length, 0);
}

test("dq_results round trip and report on chDB", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sluice-dq-"));
  const ch = await openClickHouse({ dataDir: dir });
  try {
    await roundTrip(ch);
  } finally {
    await ch.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("dq_results round trip and report on clickhouse-server 18.16", async () => {
  const server = await ClickHouseServer.start();
  const dir = mkdtempSync(join(tmpdir(), "sluice-dq-"));
  const ch = await openClickHouse({ url: server.url, dataDir: dir });
  try {
    await roundTrip(ch);
  } finally {
    await ch.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
