import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ClickHouseCluster } from "../harness/clickhouse-cluster.ts";
import { surfaceHookErrors } from "../harness/hooks.ts";
import { scalar } from "../harness/run-snapshot.ts";
import { NatsServer } from "../harness/nats-server.ts";
import { invalidMessages, validReadings, watermarkFlush } from "../harness/events.ts";
import { publishAll, startTestPipeline, streamCount, type TestPipeline } from "../harness/pipeline.ts";
import { waitFor } from "../harness/wait.ts";
import { openClickHouse, type OpenClickHouse } from "../../clickhouse/index.ts";

/**
 * Every actor in one process with CLICKHOUSE_URL at one replica and CLICKHOUSE_CLUSTER set, as an
 * operator would run it: the process migrates the cluster, its sinks add the typed columns and
 * insert, and the other replica reads the same tables (views included).
 */

interface Ctx {
  cluster: ClickHouseCluster;
  nats: NatsServer;
  nc: NatsConnection;
  pipeline: TestPipeline;
  other: OpenClickHouse;
  dataDir: string;
}

const N = 400;
const M = 10;
const SUITE = "the pipeline on a replicated ClickHouse cluster (CLICKHOUSE_CLUSTER; ZooKeeper + two 18.16 replicas)";
const test = surfaceHookErrors(suite<Ctx>(SUITE), SUITE);

test.before(async (ctx) => {
  ctx.cluster = await ClickHouseCluster.start();
  ctx.nats = await NatsServer.start();
  ctx.pipeline = await startTestPipeline(ctx.nats.url, { clickhouseUrl: ctx.cluster.replicas[0]!.url, env: { CLICKHOUSE_CLUSTER: ctx.cluster.name, SLUICE_SINK_BATCH_MS: "200" } });
  ctx.nc = await connect({ servers: ctx.nats.url });
  ctx.dataDir = mkdtempSync(join(tmpdir(), "sluice-unused-"));
  ctx.other = await openClickHouse({ url: ctx.cluster.replicas[1]!.url, dataDir: ctx.dataDir, logger: { info() {}, warn() {} } });
});

test.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.pipeline?.cleanup();
  await ctx.other?.close();
  await ctx.nats?.stop();
  await ctx.cluster?.stop();
  if (ctx.dataDir) rmSync(ctx.dataDir, { recursive: true, force: true });
});

test("N valid and M invalid events: N event rows (with and without FINAL), M dead letters, windows summing to N — read from the other replica", async ({ nc, pipeline, other }) => {
  const valid = validReadings(N);
  await publishAll(nc, [...valid.slice(0, N / 2), ...invalidMessages(M), ...valid.slice(N / 2)]);
  await publishAll(nc, watermarkFlush(Date.UTC(2026, 10, 27, 11, 0, 0)));
  const readings = "position(payload, 'temperature') > 0";
  assert.is(await waitFor(() => scalar(other.client, `SELECT countIf(${readings}) FROM sluice.events FINAL`), (n) => n >= N, 120_000), N);
  assert.is(await scalar(other.client, `SELECT countIf(${readings}) FROM sluice.events`), N, "no event row twice without FINAL");
  assert.is(await scalar(other.client, "SELECT countIf(isNotNull(iot__temperature)) FROM sluice.events"), N, "the typed columns exist on the other replica and were filled");
  assert.is(await waitFor(() => scalar(other.client, "SELECT count() FROM sluice.dead_letters FINAL"), (n) => n >= M, 60_000), M);
  assert.is(await streamCount(nc, "DLQ"), M);
  const windowed = await waitFor(() => scalar(other.client, "SELECT sum(count) FROM sluice.windows WHERE kind = 'tumbling' AND metric = 'temperature'"), (n) => n >= N, 60_000);
  assert.is(windowed, N, "sluice.windows (a view over the Distributed table) on the other replica");
  const rs = await pipeline.clickhouse!.client.query({ query: "SELECT name, engine FROM system.tables WHERE database = 'sluice' AND name IN ('events', 'events_local') ORDER BY name", format: "JSONEachRow" });
  assert.equal(await rs.json(), [{ name: "events", engine: "Distributed" }, { name: "events_local", engine: "ReplicatedReplacingMergeTree" }], "the process migrated the cluster's layout");
});

test.run();
