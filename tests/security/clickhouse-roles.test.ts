// Each sluice process as its own ClickHouse account on Debian's clickhouse-server 18.16 (the
// users.d accounts `sluice deploy clickhouse-users` writes): nothing migrates but `sluice migrate`
// as sluice_migrations; a process with CLICKHOUSE_MIGRATE=off refuses older tables with a typed
// error, and waits for a migration that is under way; the events sink inserts as sluice_sink and
// that account cannot drop or create tables; the API reads as sluice_reader.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "@nats-io/transport-node";
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from "@clickhouse/client";
import { MigrationAccessError, MIGRATIONS, openWhenReachable, SchemaOutdatedError, type OpenClickHouse } from "../../clickhouse/index.ts";
import { ANALYST_DATABASE } from "../../auth/clickhouse-users.ts";
import { ConfigError, loadConfig } from "../../config/index.ts";
import { startApi } from "../../api/start.ts";
import { ClickHouseServer } from "../harness/clickhouse-server.ts";
import { NatsServer } from "../harness/nats-server.ts";
import { SluiceProcess } from "../harness/sluice-process.ts";
import { validReadings } from "../harness/events.ts";
import { waitFor } from "../harness/wait.ts";
import { connectAsRole, credentialsEnv } from "../harness/roles.ts";
import { withDeadline } from "../../nats/deadline.ts";

const BIN = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));

interface Ctx {
  ch: ClickHouseServer;
  nats: NatsServer;
  stateDir: string;
  passwords: Record<string, string>;
  clients: ClickHouseClient[];
}

const test = suite<Ctx>("ClickHouse accounts per process on clickhouse-server 18.16");

test.before(async (ctx) => {
  ctx.clients = [];
  ctx.stateDir = mkdtempSync(join(tmpdir(), "sluice-ch-roles-"));
  ctx.ch = await ClickHouseServer.start();
  mkdirSync(join(ctx.ch.dir, "users.d"));
  const r = spawnSync(process.execPath, [BIN, "deploy", "clickhouse-users", "--server-version", "18.16.1", "--out", join(ctx.ch.dir, "users.d", "sluice.xml")], { encoding: "utf8", timeout: 30_000 });
  assert.is(r.status, 0, r.stderr);
  ctx.passwords = Object.fromEntries([...r.stderr.matchAll(/^\s+(migrator|writer|analyst)\s+(\S+)\s+(\S+)$/gm)].map((m) => [m[2]!, m[3]!]));
  await ctx.ch.restart();
  ctx.nats = await NatsServer.start();
});
test.after(async (ctx) => {
  for (const c of ctx.clients ?? []) await c.close();
  await ctx.ch?.stop();
  await ctx.nats?.stop();
  rmSync(ctx.stateDir, { recursive: true, force: true });
});

function as(ctx: Ctx, user: string): ClickHouseClient {
  const client = createClient({ url: ctx.ch.url, username: user, password: ctx.passwords[user], log: { level: ClickHouseLogLevel.OFF } });
  ctx.clients.push(client);
  return client;
}

async function scalar(client: ClickHouseClient, query: string): Promise<number> {
  // 18.16 has no JSONCompactEachRow: the one value by its column, whatever its name.
  const rows = await (await client.query({ query, format: "JSONEachRow" })).json<Record<string, unknown>>();
  return Number(Object.values(rows[0] ?? {})[0]);
}

/** Environment of a sluice process whose ClickHouse work is done by `accounts` (role → server user). */
function envFor(ctx: Ctx, accounts: Partial<Record<"MIGRATIONS" | "SINK" | "READER", string>>, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { NATS_URL: ctx.nats.url, CLICKHOUSE_URL: ctx.ch.url, SLUICE_STATE_DIR: ctx.stateDir, SLUICE_LOG_LEVEL: "info", ...extra };
  for (const [role, user] of Object.entries(accounts)) {
    env[`CLICKHOUSE_${role}_USER`] = user;
    env[`CLICKHOUSE_${role}_PASSWORD`] = ctx.passwords[user]!;
  }
  return env;
}

function sinkOpen(ctx: Ctx, log: string[], schema: Parameters<typeof openWhenReachable>[2]): Promise<OpenClickHouse> {
  const logger = { info: (m: string) => log.push(m), warn: (m: string) => log.push(m) };
  return openWhenReachable({ url: ctx.ch.url, user: "sluice_sink", password: ctx.passwords.sluice_sink, dataDir: ctx.stateDir, logger }, { log: logger }, schema);
}

test("CLICKHOUSE_MIGRATE=off on unmigrated tables: SchemaOutdatedError naming sluice migrate, nothing created", async (ctx) => {
  const log: string[] = [];
  const err = await sinkOpen(ctx, log, { migrate: "off", pendingMigrationMs: 1_500 }).then(() => undefined, (e: Error) => e);
  assert.instance(err, SchemaOutdatedError);
  assert.match(err!.message, /run `sluice migrate` with the migrations account \(CLICKHOUSE_MIGRATIONS_USER/);
  assert.is((err as SchemaOutdatedError).missing.length, MIGRATIONS.length);
  assert.ok(log.some((l) => /waiting for \d+ migrations/.test(l)), log.join("\n"));
  assert.is(await scalar(as(ctx, "sluice_migrations"), "SELECT count() FROM system.databases WHERE name = 'sluice'"), 0);
});

test("CLICKHOUSE_MIGRATE=auto with only the sink account: MigrationAccessError naming the migrations account", async (ctx) => {
  const err = await sinkOpen(ctx, [], { migrate: "auto" }).then(() => undefined, (e: Error) => e);
  assert.instance(err, MigrationAccessError);
  assert.match(err!.message, /sluice_sink may not migrate .*DDL queries are prohibited.*CLICKHOUSE_MIGRATIONS_USER.*CLICKHOUSE_MIGRATE=off/s);
  assert.is(await scalar(as(ctx, "sluice_migrations"), "SELECT count() FROM system.databases WHERE name = 'sluice'"), 0);
});

test("a sink waiting on CLICKHOUSE_MIGRATE=off opens once `sluice migrate` (as sluice_migrations) has applied every migration", async (ctx) => {
  const log: string[] = [];
  const opening = sinkOpen(ctx, log, { migrate: "off", pendingMigrationMs: 120_000 });
  let opened: OpenClickHouse | undefined;
  try {
    await waitFor(async () => log.join("\n"), (text) => /waiting for \d+ migrations/.test(text), 30_000, 50);
    // Signed in to NATS as its own user (the operator), it reads the registry for typed columns too.
    const migrateRun = spawn(process.execPath, [BIN, "migrate", "--views"], { env: { ...process.env, ...envFor(ctx, { MIGRATIONS: "sluice_migrations" }), ...credentialsEnv(ctx.nats) }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    migrateRun.stdout.on("data", (d) => (out += d));
    migrateRun.stderr.on("data", (d) => (out += d));
    const code = await withDeadline(new Promise<number | null>((resolve) => migrateRun.once("exit", resolve)), { what: "sluice migrate", timeoutMs: 60_000 });
    assert.is(code, 0, out);
    assert.match(out, new RegExp(`applied ${MIGRATIONS.length} of ${MIGRATIONS.length} migrations`));
    assert.match(out, /added typed columns to sluice\.events: iot__/);
    assert.match(out, /analyst views created/);
    assert.not.match(out, /not reachable/);
    opened = await withDeadline(opening, { what: "the sink's open after the migration", timeoutMs: 30_000 });
    assert.ok(log.some((l) => /is migrated/.test(l)), log.join("\n"));
    const again = spawnSync(process.execPath, [BIN, "migrate"], { env: { ...process.env, ...envFor(ctx, { MIGRATIONS: "sluice_migrations" }), ...credentialsEnv(ctx.nats) }, encoding: "utf8", timeout: 60_000 });
    assert.is(again.status, 0, again.stderr);
    assert.match(again.stdout, /nothing to migrate/);
  } finally {
    await (opened ?? (await opening.catch(() => undefined)))?.close();
  }
});

test("the events sink runs as sluice_sink with CLICKHOUSE_MIGRATE=off; that account is refused DROP TABLE and CREATE TABLE", async (ctx) => {
  const env = envFor(ctx, { SINK: "sluice_sink" }, { CLICKHOUSE_MIGRATE: "off" });
  const validate = SluiceProcess.start(["actor", "validate"], env);
  const sink = SluiceProcess.start(["actor", "clickhouse-sink-events"], env);
  let nc: NatsConnection | undefined;
  try {
    await waitFor(async () => validate.output + sink.output, (out) => /actors running: validate/.test(out) && /actors running: clickhouse-sink-events/.test(out), 60_000, 200);
    // A producer signs in as the producer role (with authorization on, the harness's default).
    nc = await withDeadline(connectAsRole(ctx.nats, "producer"), { what: "producer sign-in", timeoutMs: 10_000 });
    for (const m of validReadings(20)) nc.publish(m.subject, m.body);
    await withDeadline(nc.flush(), { what: "producer flush", timeoutMs: 10_000 });
    const migrator = as(ctx, "sluice_migrations");
    const rows = await waitFor(() => scalar(migrator, "SELECT count() FROM sluice.events"), (n) => n >= 20, 60_000);
    assert.is(rows, 20, `${validate.output}\n${sink.output}`);
    assert.not.match(sink.output, /DDL queries are prohibited|MigrationAccessError|SchemaOutdatedError/);

    const sinkAccount = as(ctx, "sluice_sink");
    for (const statement of ["DROP TABLE sluice.events", "CREATE TABLE sluice.extra (a UInt8) ENGINE = Memory", "ALTER TABLE sluice.events DROP PARTITION 20261127"]) {
      const err = await sinkAccount.command({ query: statement }).then(() => undefined, (e: Error) => e);
      assert.match(err?.message ?? "(accepted)", /DDL queries are prohibited/, statement);
    }
    assert.is(await scalar(migrator, "SELECT count() FROM sluice.events"), 20, "nothing the refused statements tried was applied");
    assert.is(await scalar(migrator, "SELECT count() FROM system.tables WHERE database = 'sluice' AND name = 'extra'"), 0);
  } finally {
    await nc?.close();
    await sink.kill("SIGTERM");
    await validate.kill("SIGTERM");
  }
});

test("the API reads as sluice_reader (a wrong reader password stops it at start) and answers from the tables", async (ctx) => {
  const migrator = as(ctx, "sluice_migrations");
  const start = new Date(Date.now() - 120_000).toISOString().slice(0, 19).replace("T", " ");
  const end = new Date(Date.now() - 60_000).toISOString().slice(0, 19).replace("T", " ");
  await migrator.insert({
    table: "sluice.window_aggregates",
    values: [{ window_id: "w-roles", source: "iot", kind: "tumbling_1m", key: "sensor-1", metric: "temperature", window_start: start, window_end: end, count: 3, version: 1, emitted_at: end }],
    format: "JSONEachRow",
  });
  const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
  const credentials = credentialsEnv(ctx.nats);
  const wrong = loadConfig({ ...envFor(ctx, { SINK: "sluice_sink", READER: "sluice_reader" }, { SLUICE_API_PORT: "0", ...credentials }), CLICKHOUSE_READER_PASSWORD: "not-the-password" });
  const refused = await startApi({ config: wrong, natsUrl: ctx.nats.url, log: silent as never }).then(async (api) => api.close(), (e: Error) => e);
  assert.instance(refused, Error, "the API started with a wrong reader password");
  assert.match((refused as Error).message, /password|Authentication/i);

  const config = loadConfig(envFor(ctx, { SINK: "sluice_sink", READER: "sluice_reader" }, { SLUICE_API_PORT: "0", ...credentials }));
  const api = await startApi({ config, natsUrl: ctx.nats.url, log: silent as never });
  try {
    const res = await fetch(`${api.url}/v1/windows?source=iot&since=1h`);
    const body = await res.text();
    assert.is(res.status, 200, body);
    assert.match(body, /w-roles/);
  } finally {
    await api.close();
  }
  // What the reader account is: reads only, the analyst views included.
  const reader = as(ctx, "sluice_reader");
  assert.is(await scalar(reader, `SELECT count() FROM ${ANALYST_DATABASE}.window_aggregates`), 1);
  const err = await reader.command({ query: "DROP TABLE sluice.window_aggregates" }).then(() => undefined, (e: Error) => e);
  assert.match(err?.message ?? "(accepted)", /readonly mode/);
});

const config = suite("ClickHouse accounts in the configuration");

config("each role falls back to CLICKHOUSE_USER/PASSWORD; a role's own user comes with its own password; migrate defaults to auto", () => {
  const url = "http://127.0.0.1:8123";
  const shared = loadConfig({ CLICKHOUSE_URL: url, CLICKHOUSE_USER: "u", CLICKHOUSE_PASSWORD: "p" }).clickhouseAccess;
  assert.is(shared.migrate, "auto");
  for (const role of ["migrations", "sink", "reader"] as const) assert.equal(shared[role], { user: "u", password: "p" });
  const split = loadConfig({ CLICKHOUSE_URL: url, CLICKHOUSE_USER: "u", CLICKHOUSE_PASSWORD: "p", CLICKHOUSE_SINK_USER: "s", CLICKHOUSE_MIGRATE: "off" }).clickhouseAccess;
  assert.equal(split.sink, { user: "s", password: undefined });
  assert.equal(split.reader, { user: "u", password: "p" });
  assert.is(split.migrate, "off");
  assert.equal(loadConfig({}).clickhouseAccess.sink, { user: undefined, password: undefined }, "the embedded engine: no accounts");
});

config("mistakes are ConfigErrors naming the variable, never a password", () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ CLICKHOUSE_MIGRATE: "sometimes" }, /CLICKHOUSE_MIGRATE="sometimes": expected auto .* or off \(run sluice migrate\)/],
    [{ CLICKHOUSE_SINK_USER: "s" }, /CLICKHOUSE_SINK_USER is set but CLICKHOUSE_URL is not: the embedded engine has no accounts/],
    [{ CLICKHOUSE_URL: "http://h:8123", CLICKHOUSE_READER_PASSWORD: "secret-value" }, /CLICKHOUSE_READER_PASSWORD is set without CLICKHOUSE_READER_USER/],
  ];
  for (const [env, message] of cases) {
    const err = (() => {
      try {
        loadConfig(env);
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    assert.instance(err, ConfigError, JSON.stringify(env));
    assert.match(err!.message, message);
    assert.not.match(err!.message, /secret-value/);
  }
});

config.run();
test("scheduled jobs sign in as the migrations account when the sink process has one: retention drops the old day's partition the sink account may not", async (ctx) => {
  const env = envFor(ctx, { SINK: "sluice_sink", MIGRATIONS: "sluice_migrations" }, { CLICKHOUSE_MIGRATE: "off", SLUICE_RETENTION_DAYS: "1" });
  const sink = SluiceProcess.start(["actor", "clickhouse-sink-events"], env);
  try {
    await waitFor(async () => sink.output, (out) => /actors running: clickhouse-sink-events/.test(out) || sink.child.exitCode !== null, 60_000, 200);
    const migrator = as(ctx, "sluice_migrations");
    assert.is(await scalar(migrator, "SELECT count() FROM sluice.events"), 20, "the readings of the sink test, on 2026-11-27");
    // 18.16 has no TTL, so retention drops whole days; as the sink account it would be refused (and retried a minute later).
    const run = SluiceProcess.start(["jobs", "run", "retention"], { NATS_URL: ctx.nats.url, SLUICE_STATE_DIR: ctx.stateDir, SLUICE_LOG_LEVEL: "warn" });
    const code = await withDeadline(new Promise<number | null>((resolve) => (run.child.exitCode !== null ? resolve(run.child.exitCode) : run.child.once("exit", resolve))), { what: "sluice jobs run retention", timeoutMs: 50_000 })
      .catch(async (err: Error) => {
        await run.kill("SIGTERM");
        throw new Error(`${err.message}:\n${run.output}\n${sink.output}`);
      });
    assert.is(code, 0, `${run.output}\n${sink.output}`);
    assert.match(run.output, /retention: ok after 1 attempt\(s\): \d+ partitions dropped \(.*sluice\.events 20261127/);
    assert.is(await scalar(migrator, "SELECT count() FROM sluice.events"), 0);
  } finally {
    await sink.kill("SIGTERM");
  }
});

test("every sluice client here signed in to NATS as its own generated user, none as the test probe", async ({ nats }) => {
  assert.equal(await nats.sluiceClientsAsProbe(), []);
});

test.run();
