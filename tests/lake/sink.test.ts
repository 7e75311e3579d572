// The lake sink is a keyed actor over RAW: a real `sluice actor lake-raw` process is SIGKILLed
// while it writes files, restarted, and the lake must then hold every RAW message exactly once,
// in exactly the files one uninterrupted pass cuts (same names, same rows, original bytes).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { streamOverrides } from "../../actors/pipeline.ts";
import { loadConfig } from "../../config/index.ts";
import { openMemoryEngine, parseLakeUrl, type LakeEngine } from "../../lake/index.ts";
import { ensureStreams } from "../../subjects/setup.ts";
import { NatsServer } from "../harness/nats-server.ts";
import type { SluiceProcess } from "../harness/sluice-process.ts";
import { crashAndRecover, publishWorkload } from "./env.ts";

const test = suite("lake sink (directory): SIGKILL mid-file, restart, every message once");

const ctx = { procs: [] as SluiceProcess[] } as { nats: NatsServer; nc: NatsConnection; engine: LakeEngine; stateDir: string; procs: SluiceProcess[] };

test.before(async () => {
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
  ctx.engine = await openMemoryEngine();
  ctx.stateDir = mkdtempSync(join(tmpdir(), "sluice-lake-"));
});

test.after(async () => {
  for (const p of ctx.procs) await p.kill("SIGKILL");
  await ctx.engine?.close();
  await ctx.nc?.close();
  await ctx.nats?.stop();
  rmSync(ctx.stateDir, { recursive: true, force: true });
});

test("SIGKILL mid-file, then the same files as one uninterrupted pass", async () => {
  const lakeDir = join(ctx.stateDir, "lake");
  await ensureStreams(await jetstreamManager(ctx.nc), streamOverrides(loadConfig({ SLUICE_STATE_DIR: ctx.stateDir })));
  await publishWorkload(ctx.nc, 3_000);
  await crashAndRecover(ctx, parseLakeUrl(lakeDir), { NATS_URL: ctx.nats.url, SLUICE_STATE_DIR: ctx.stateDir, SLUICE_LAKE_URL: lakeDir });
  // Nothing but complete files is left: a killed write's temp file was removed by its rewrite.
  const leftovers = (function walk(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith(".parquet") ? [] : [e.name]));
  })(lakeDir);
  assert.equal(leftovers, [], "temp files left in the lake");
});

test.run();
