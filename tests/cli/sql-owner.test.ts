import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "@nats-io/transport-node";
import { embeddedDataDir, loadConfig } from "../../config/index.ts";
import { askSql, NoSqlOwnerError, type SqlReply } from "../../clickhouse/sql-rpc.ts";
import { querySluice } from "../../cli/sql.ts";
import { subject } from "../../subjects/catalog.ts";
import { NatsServer } from "../harness/nats-server.ts";
import { SluiceProcess } from "../harness/sluice-process.ts";
import { waitFor } from "../harness/wait.ts";
import { connectAsClient, credentialsEnv } from "../harness/roles.ts";

const BIN = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));
const MARKER = "SELECT v FROM default.marker";

const test = suite<{ nats: NatsServer; nc: NatsConnection; dirs: Record<"a" | "b", string>; owners: SluiceProcess[] }>("two owners of two data dirs on one NATS");

/** `sluice sql` as a user runs it (signed in as the reader); without a NATS server it opens the state dir itself. */
function sluiceSql(stateDir: string, query: string, nats?: NatsServer): string {
  const env: NodeJS.ProcessEnv = { ...process.env, SLUICE_STATE_DIR: stateDir, SLUICE_LOG_LEVEL: "warn" };
  delete env.NATS_URL;
  if (nats) Object.assign(env, { NATS_URL: nats.url, ...credentialsEnv(nats) });
  const r = spawnSync(process.execPath, [BIN, "sql", "--format", "json", query], { env, encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) throw new Error(`sluice sql ${query} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  // The requests below are what `sluice sql` sends: signed in as the reader.
  ctx.nc = await connectAsClient(ctx.nats, "sluice:sql");
  ctx.dirs = { a: realpathSync(mkdtempSync(join(tmpdir(), "sluice-owner-a-"))), b: realpathSync(mkdtempSync(join(tmpdir(), "sluice-owner-b-"))) };
  // Each directory gets a row only it has.
  for (const [name, dir] of Object.entries(ctx.dirs)) sluiceSql(dir, `CREATE TABLE default.marker ENGINE = MergeTree ORDER BY tuple() AS SELECT '${name}' AS v`);
  ctx.owners = Object.values(ctx.dirs).map((dir) => SluiceProcess.start(["actor", "clickhouse-sink-dlq"], { NATS_URL: ctx.nats.url, SLUICE_STATE_DIR: dir, SLUICE_LOG_LEVEL: "info" }));
  for (const owner of ctx.owners) {
    await waitFor(async () => owner.output, (out) => /actors running/.test(out) || owner.child.exitCode !== null, 60_000, 100);
    assert.match(owner.output, /actors running: clickhouse-sink-dlq \(instance [0-9a-f]+, ClickHouse data in /);
  }
});
test.after(async (ctx) => {
  for (const owner of ctx.owners ?? []) await owner.kill("SIGTERM");
  await ctx.nc?.close();
  await ctx.nats?.stop();
  for (const dir of Object.values(ctx.dirs ?? {})) rmSync(dir, { recursive: true, force: true });
});

test("sluice sql with each state dir gets that dir's data, every time", async ({ nats, dirs }) => {
  for (const [name, dir] of Object.entries(dirs)) {
    const config = loadConfig({ NATS_URL: nats.url, SLUICE_STATE_DIR: dir, ...credentialsEnv(nats) });
    for (let i = 0; i < 12; i++) {
      const { rows } = await querySluice(config, MARKER);
      assert.equal(rows, [[name]], `state dir ${name}, attempt ${i + 1}: got another owner's rows`);
    }
  }
  // The command itself, end to end.
  assert.equal(JSON.parse(sluiceSql(dirs.a, MARKER, nats)), [{ v: "a" }]);
  assert.equal(JSON.parse(sluiceSql(dirs.b, MARKER, nats)), [{ v: "b" }]);
});

test("replies name their data dir and instance; the shared subject refuses a request meant for another dir", async ({ nc, dirs }) => {
  const seen = new Set<string>();
  for (let i = 0; i < 12; i++) {
    const msg = await nc.request(subject.sqlService(), JSON.stringify({ query: MARKER, data_dir: embeddedDataDir({ stateDir: dirs.a }) }), { timeout: 10_000 });
    const reply = JSON.parse(new TextDecoder().decode(msg.data)) as SqlReply;
    assert.type(reply.instance, "string");
    seen.add(reply.data_dir!);
    if (reply.data_dir === embeddedDataDir({ stateDir: dirs.a })) {
      assert.equal(reply.ok && reply.rows, [["a"]]);
    } else {
      assert.is(reply.data_dir, embeddedDataDir({ stateDir: dirs.b }));
      assert.is(reply.ok, false, "the owner of b answered a request for a with its own rows");
      if (!reply.ok) assert.match(reply.error, /owns .*sluice-owner-b.* not .*sluice-owner-a/);
    }
  }
  // A request without data_dir is the documented shape and still works.
  const legacy = JSON.parse(new TextDecoder().decode((await nc.request(subject.sqlService(), JSON.stringify({ query: "SELECT 1" }), { timeout: 10_000 })).data)) as SqlReply;
  assert.is(legacy.ok, true);
});

test("a directory nobody owns: no responders at once, not another owner's rows", async ({ nc }) => {
  const t0 = Date.now();
  const err = await askSql(nc, MARKER, join(tmpdir(), "sluice-owned-by-nobody", "clickhouse"), 10_000).then(() => undefined, (e: Error) => e);
  assert.instance(err, NoSqlOwnerError);
  assert.ok(Date.now() - t0 < 2_000, `took ${Date.now() - t0} ms`);
});

test("every sluice client here signed in as its own generated user, none as the test probe", async ({ nats }) => {
  assert.equal(await nats.sluiceClientsAsProbe(), []);
  if (nats.credentialsDir) assert.ok((await nats.connections()).some((c) => c.name.startsWith("sluice:sql") && c.user === "reader"), "sluice sql signed in as the reader");
});

test.run();
