// The embedded engine starts with the server settings of clickhouse/engine-settings.ts: its memory
// cap and cache sizes, not a server's defaults (90 % of RAM, 5 GiB caches).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openClickHouse, runQuery, type OpenClickHouse } from "../../clickhouse/index.ts";
import { EMBEDDED_CACHE_BYTES } from "../../clickhouse/engine-settings.ts";
import { captureLog } from "./scenarios.ts";

const dataDir = mkdtempSync(join(tmpdir(), "sluice-chdb-settings-"));
let ch: OpenClickHouse;

test.before(async () => {
  ch = await openClickHouse({ dataDir, logger: captureLog().logger, engineMemoryMb: 300 });
});

test.after(async () => {
  await ch?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const serverSetting = async (name: string): Promise<number> =>
  Number((await runQuery(ch.client, `SELECT value FROM system.server_settings WHERE name = '${name}'`)).rows[0]?.[0]);

test("the engine's memory cap is the one asked for", async () => {
  assert.is(await serverSetting("max_server_memory_usage"), 300 * 1024 * 1024);
  assert.is(await serverSetting("merges_mutations_memory_usage_soft_limit"), 150 * 1024 * 1024);
});

test("every cache has the embedded size", async () => {
  for (const [name, bytes] of Object.entries(EMBEDDED_CACHE_BYTES)) assert.is(await serverSetting(name), bytes, name);
});

test("a query over the cap fails and names the limit", async () => {
  // One array of 100M UInt64 (800 MB), far over the 300 MB cap.
  const err = await runQuery(ch.client, "SELECT length(groupArray(number)) FROM numbers(100000000)").then(() => undefined, (e: unknown) => e as Error);
  assert.ok(err, "the query ran to the end under a 300 MB cap");
  assert.match(err.message, /memory limit exceeded.*maximum: 300\.00 MiB/is);
});

test.run();
