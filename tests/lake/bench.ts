// Throughput of lake-raw on this machine: N stored RAW messages (about 200 bytes of JSON each),
// drained by `sluice actor lake-raw` into Parquet files of FILE_ROWS rows on a local directory
// (or on s3rver with --s3). Prints one LAKE line. Run: node --import tsx tests/lake/bench.ts [--s3]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { streamOverrides } from "../../actors/pipeline.ts";
import { loadConfig } from "../../config/index.ts";
import { LakeStore, openMemoryEngine } from "../../lake/index.ts";
import { ensureStreams } from "../../subjects/setup.ts";
import { NatsServer } from "../harness/nats-server.ts";
import { SluiceProcess } from "../harness/sluice-process.ts";
import { waitFor } from "../harness/wait.ts";
import { S3rver } from "./s3rver.ts";

const N = 100_000;
const FILE_ROWS = 20_000;
const s3 = process.argv.includes("--s3") ? await S3rver.start("bench") : undefined;
const nats = await NatsServer.start();
const nc = await connect({ servers: nats.url });
const stateDir = mkdtempSync(join(tmpdir(), "sluice-lake-bench-"));
const env: Record<string, string> = { NATS_URL: nats.url, SLUICE_STATE_DIR: stateDir, SLUICE_LAKE_FILE_ROWS: String(FILE_ROWS), SLUICE_LOG_LEVEL: "warn", ...(s3 ? s3.env("bench") : {}) };
await ensureStreams(await jetstreamManager(nc), streamOverrides(loadConfig(env)));
for (let i = 0; i < N; i++) {
  nc.publish(`raw.iot.sensor-${i % 50}`, JSON.stringify({ sensor_id: `sensor-${i % 50}`, ts: new Date(Date.UTC(2026, 10, 27) + i * 100).toISOString(), temperature: 20 + (i % 70) / 10, humidity: 40 + (i % 30), seq: i, site: "plant-north-7" }));
  if (i % 5_000 === 4_999) await nc.flush();
}
await nc.flush();
const engine = await openMemoryEngine();
const store = new LakeStore(loadConfig(env).lake, engine.client);
const started = Date.now();
const sink = SluiceProcess.start(["actor", "lake-raw"], env);
const files = await waitFor(async () => (await store.list("raw")).length, (n) => n >= N / FILE_ROWS, 300_000, 100);
const seconds = (Date.now() - started) / 1000;
await sink.kill("SIGTERM");
const bytes = (await (await engine.client.query({ query: `SELECT sum(s) AS b FROM (SELECT DISTINCT _path, _size AS s FROM ${store.tableFunction("raw/source=*/date=*/hour=*/*.parquet").replace(/'Parquet', '[^']*'\)$/, "'One')")})`, format: "JSONEachRow" })).json<{ b: number }>())[0]?.b;
console.log(`LAKE ${s3 ? "s3rver" : "dir"} messages=${N} files=${files} seconds=${seconds.toFixed(1)} msgs_per_s=${Math.round(N / seconds)} parquet_bytes=${bytes} (process start included)`);
await engine.close();
await nc.close();
await nats.stop();
await s3?.stop();
rmSync(stateDir, { recursive: true, force: true });
process.exit(0);
