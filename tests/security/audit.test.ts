// sluice.audit: who made or revoked a token (the CLI, user@host) and who replayed a dead letter
// (the API, the token's name and role), stored through the process that owns the embedded
// engine while it runs — the CLI and a --split API cannot open it themselves.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { hostname } from "node:os";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "@nats-io/transport-node";
import { embeddedDataDir } from "../../config/index.ts";
import { createApp } from "../../api/app.ts";
import { clickhouseRows } from "../../api/deps.ts";
import { natsDeadLetters } from "../../api/dlq.ts";
import { tokensPath, watchTokens } from "../../auth/tokens.ts";
import { askAudit } from "../../clickhouse/sql-rpc.ts";
import { allMetrics } from "../../otel/metrics.ts";
import { invalidMessages } from "../harness/events.ts";
import { NatsServer } from "../harness/nats-server.ts";
import { publishAll, startTestPipeline, type TestPipeline } from "../harness/pipeline.ts";
import { waitFor } from "../harness/wait.ts";
import { connectAsClient, connectAsRole, credentialsEnv } from "../harness/roles.ts";

const BIN = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));
const test = suite<{ nats: NatsServer; nc: NatsConnection; api: NatsConnection; pipeline: TestPipeline }>("audit trail");

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  ctx.pipeline = await startTestPipeline(ctx.nats.url, { actors: ["validate", "clickhouse-sink-dlq"], env: { SLUICE_SINK_BATCH_MS: "100" } });
  ctx.nc = await connectAsRole(ctx.nats, "producer");
  // The in-process API below works as a --split API process does: signed in as the api user.
  ctx.api = await connectAsClient(ctx.nats, "sluice:api");
  await publishAll(ctx.nc, invalidMessages(3));
  await waitFor(() => ctx.pipeline.scalar("SELECT count() FROM sluice.dead_letters FINAL"), (n) => n >= 3, 60_000);
});
test.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.api?.close();
  await ctx.pipeline?.cleanup();
  await ctx.nats?.stop();
});

/** `sluice api token …` as a separate process (not spawnSync: the owner answering it runs in this one). */
const sluiceApi = (ctx: { nats: NatsServer; pipeline: TestPipeline }, args: string[]) => sluice(ctx, ["api", "token", ...args]);

async function sluice(ctx: { nats: NatsServer; pipeline: TestPipeline }, args: string[]): Promise<string> {
  // Each command signs in as its own generated user (the operator for replays and audit rows).
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, NATS_URL: ctx.nats.url, SLUICE_STATE_DIR: ctx.pipeline.stateDir, SLUICE_LOG_LEVEL: "warn", ...credentialsEnv(ctx.nats) } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d));
  child.stderr.on("data", (d: Buffer) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  assert.is(code, 0, stderr);
  assert.not.match(stderr, /not recorded/, stderr);
  return stdout.trim();
}

const auditRows = async (pipeline: TestPipeline) =>
  (await (await pipeline.clickhouse!.client.query({ query: "SELECT actor, role, via, action, target, detail FROM sluice.audit ORDER BY at, action", format: "JSONEachRow" })).json<Record<string, string>>());

test("token create and revoke by the CLI, and a replay through the API, each leave one row naming who", async (ctx) => {
  const operator = await sluiceApi(ctx, ["create", "--role", "operator", "--name", "oncall"]);
  const viewer = await sluiceApi(ctx, ["create", "--role", "viewer", "--name", "wall"]);
  const dataDir = embeddedDataDir(ctx.pipeline.config);
  const app = createApp({
    rows: clickhouseRows(() => ctx.pipeline.clickhouse!.client),
    pingNats: async () => undefined,
    pingClickHouse: async () => undefined,
    metrics: allMetrics,
    deadLetters: natsDeadLetters(ctx.api),
    auth: { tokens: watchTokens(tokensPath(ctx.pipeline.stateDir), 0) },
    // As a --split API process does: through the owner of the engine.
    audit: (e) => askAudit(ctx.api, e, dataDir, 10_000),
  });
  const list = (await (await app.request("/v1/dlq", { headers: { authorization: `Bearer ${viewer}` } })).json()) as { dead_letters: Array<{ id: number }> };
  const id = list.dead_letters[0]!.id;
  assert.is((await app.request(`/v1/dlq/${id}/replay`, { method: "POST", headers: { authorization: `Bearer ${viewer}` } })).status, 403);
  const replay = await app.request(`/v1/dlq/${id}/replay`, { method: "POST", headers: { authorization: `Bearer ${operator}` } });
  assert.is(replay.status, 200, await replay.clone().text());
  await sluiceApi(ctx, ["revoke", "wall"]);

  const rows = await waitFor(() => auditRows(ctx.pipeline), (r) => r.length >= 4, 20_000);
  const me = new RegExp(`^[^@]+@${hostname().replace(/\./g, "\\.")}$`);
  const byAction = (action: string) => rows.filter((r) => r.action === action);
  assert.is(byAction("token.create").length, 2);
  for (const r of byAction("token.create")) {
    assert.match(r.actor, me);
    assert.is(r.via, "cli");
    assert.match(r.target, /^token:[0-9a-f]{8}$/);
  }
  assert.equal(byAction("token.create").map((r) => r.detail).sort(), ["operator oncall", "viewer wall"]);
  assert.equal(byAction("dlq.replay").map(({ actor, role, via, target }) => ({ actor, role, via, target })), [{ actor: "oncall", role: "operator", via: "api", target: `dlq:${id}` }], "the refused replay left no row");
  assert.equal(byAction("token.revoke").map((r) => r.detail), ["viewer wall"]);
  assert.is(rows.length, 4);
  const text = JSON.stringify(rows);
  assert.not.ok(text.includes(operator) || text.includes(viewer), "a token in the audit trail");
});

test("a schema change by the CLI is recorded", async (ctx) => {
  await sluice(ctx, ["schema", "mode", "iot", "full"]);
  const rows = await waitFor(() => auditRows(ctx.pipeline), (r) => r.some((x) => x.action === "schema.change"), 20_000);
  const change = rows.find((r) => r.action === "schema.change")!;
  assert.is(change.target, "schema:iot");
  assert.match(change.detail, /^mode full, policy /);
  assert.is(change.via, "cli");
});

test("the owner stores only entries of the audit shape", async ({ api: nc, pipeline }) => {
  const before = await auditRows(pipeline);
  const bad = await askAudit(nc, { action: "drop.everything" } as never, embeddedDataDir(pipeline.config), 10_000).then(() => undefined, (e: Error) => e);
  assert.match(String(bad?.message), /audit not stored: not an audit entry/);
  assert.is((await auditRows(pipeline)).length, before.length);
});

test("every sluice client here signed in as its own generated user, none as the test probe", async ({ nats }) => {
  assert.equal(await nats.sluiceClientsAsProbe(), []);
});

test.run();
