// sluice.rpc.sql answers reads only: each refusal is a clear error naming what was refused,
// counted, and leaves the data (and the file system) as it was; ordinary reads still work
// through `sluice sql` and through the API's query path.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "@nats-io/transport-node";
import { embeddedDataDir } from "../../config/index.ts";
import { READ_LIMITS, readOnlyStatement, ReadOnlyRefusal, withReadLimits } from "../../clickhouse/readonly.ts";
import { askSql, serveSql, type SqlReply } from "../../clickhouse/sql-rpc.ts";
import { openClickHouse } from "../../clickhouse/index.ts";
import { denialCount } from "../../auth/denials.ts";
import { withDeadline } from "../../nats/deadline.ts";
import { natsSqlRows } from "../../api/deps.ts";
import { subject } from "../../subjects/catalog.ts";
import { NatsServer } from "../harness/nats-server.ts";
import { SluiceProcess } from "../harness/sluice-process.ts";
import { waitFor } from "../harness/wait.ts";
import { connectAsClient, credentialsEnv } from "../harness/roles.ts";

const BIN = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));

const pure = suite("the read-only gate, on its own");

function refusal(sql: string): ReadOnlyRefusal {
  try {
    readOnlyStatement(sql);
  } catch (err) {
    if (err instanceof ReadOnlyRefusal) return err;
    throw err;
  }
  throw new Error(`accepted: ${sql}`);
}

pure("reads pass, cut after their last token", () => {
  assert.is(readOnlyStatement("SELECT 1;"), "SELECT 1");
  assert.is(readOnlyStatement("-- why\n/* note */ select count() from sluice.events -- trailing\n"), "-- why\n/* note */ select count() from sluice.events");
  assert.is(readOnlyStatement("WITH 1 AS a SELECT a"), "WITH 1 AS a SELECT a");
  assert.is(readOnlyStatement("(SELECT 1) UNION ALL (SELECT 2)"), "(SELECT 1) UNION ALL (SELECT 2)");
  for (const q of ["SHOW TABLES FROM sluice", "DESCRIBE sluice.events", "DESC sluice.events", "EXPLAIN SELECT 1", "EXISTS sluice.events"]) assert.is(readOnlyStatement(q), q);
  // Names and strings may hold anything.
  assert.is(readOnlyStatement("SELECT 'DROP TABLE x; file(1) $$', `we;ird` FROM t"), "SELECT 'DROP TABLE x; file(1) $$', `we;ird` FROM t");
  assert.is(readOnlyStatement("SELECT format('{}', 1), domain(url) FROM t"), "SELECT format('{}', 1), domain(url) FROM t");
  // Ordinary functions whose names begin like refused ones.
  assert.is(readOnlyStatement("SELECT URLHierarchy(url), filesystemAvailable() FROM t"), "SELECT URLHierarchy(url), filesystemAvailable() FROM t");
});

pure("everything else is refused with its reason and what it was", () => {
  const cases: Array<[string, string, string, RegExp]> = [
    ["DROP TABLE sluice.events", "statement", "DROP", /sluice\.rpc\.sql is read-only: DROP is not allowed .*operator/],
    ["insert into sluice.events select * from sluice.events", "statement", "INSERT", /INSERT is not allowed/],
    ["SELECT * FROM file('/etc/passwd')", "table_function", "file", /function file\(\) reads or writes outside/],
    ["SELECT * FROM `S3Cluster`('c', 'http://x/y')", "table_function", "s3cluster", /s3cluster\(\)/],
    ["SELECT * FROM remote ('h', db.t)", "table_function", "remote", /remote\(\)/],
    ["SELECT catboostEvaluate('/models/x.bin', 1)", "table_function", "catboostevaluate", /catboostevaluate\(\)/],
    ["SELECT * FROM loop(url('http://x/y'))", "table_function", "url", /url\(\)/],
    ["SELECT * FROM fileCluster('c', '/etc/*')", "table_function", "filecluster", /filecluster\(\)/],
    ["SELECT * FROM icebergS3('http://x/y')", "table_function", "icebergs3", /icebergs3\(\)/],
    ["SELECT 1; DROP TABLE sluice.events", "multiple", ";", /one statement per request/],
    ["SELECT 1 /* ; */; DROP TABLE sluice.events", "multiple", ";", /one statement/],
    // A nested comment ends, for the gate, at the first */: what follows is seen.
    ["SELECT 1 /* /* */ ; DROP TABLE sluice.events /* */", "multiple", ";", /one statement/],
    // An escaped quote does not end the string early, nor does a doubled one.
    ["SELECT 'it\\'s', 'a''b'; DROP TABLE t", "multiple", ";", /one statement/],
    ["SELECT $$'$$; DROP TABLE t; SELECT '", "syntax", "$", /character "\$"/],
    ["SELECT 1 # ; DROP TABLE t", "syntax", "#", /character "#"/],
    ["/* SELECT */ DROP TABLE t", "statement", "DROP", /DROP is not allowed/],
    ["SELECT 1 INTO OUTFILE '/tmp/x'", "outfile", "INTO OUTFILE", /INTO OUTFILE is not allowed/],
    ["SELECT * FROM numbers(10) SETTINGS max_result_rows = 0", "settings", "SETTINGS", /SETTINGS clause/],
    ["SELECT 1 FORMAT JSON", "syntax", "FORMAT", /FORMAT clause/],
    ["SELECT 'open", "syntax", "'", /not closed/],
    ["  ;; ", "empty", "", /empty/],
  ];
  for (const [sql, reason, got, message] of cases) {
    const e = refusal(sql);
    assert.is(e.reason, reason, sql);
    assert.is(e.got, got, sql);
    assert.match(e.message, message, sql);
  }
});

pure("limits travel in the statement's own SETTINGS clause, after a trailing comment's newline", () => {
  const sql = withReadLimits(readOnlyStatement("SELECT 1 -- c"), { maxExecutionSeconds: 3, maxResultRows: 7, maxResultBytes: 1000 });
  assert.is(sql, "SELECT 1\nSETTINGS max_execution_time = 3, max_result_rows = 7, max_result_bytes = 1000, result_overflow_mode = 'break', readonly = 2");
});

const live = suite<{ nats: NatsServer; nc: NatsConnection; api: NatsConnection; stateDir: string; owner: SluiceProcess }>("sluice.rpc.sql against a running owner of the embedded engine");

/** `sluice sql` signed in as the reader; without a NATS server it opens the state dir itself. */
function sluiceSql(stateDir: string, query: string, nats?: NatsServer) {
  const env: NodeJS.ProcessEnv = { ...process.env, SLUICE_STATE_DIR: stateDir, SLUICE_LOG_LEVEL: "warn" };
  delete env.NATS_URL;
  if (nats) Object.assign(env, { NATS_URL: nats.url, ...credentialsEnv(nats) });
  return spawnSync(process.execPath, [BIN, "sql", "--format", "json", query], { env, encoding: "utf8", timeout: 60_000 });
}

async function ask(nc: NatsConnection, query: string): Promise<SqlReply> {
  const msg = await nc.request(subject.sqlService(), JSON.stringify({ query }), { timeout: 30_000 });
  return JSON.parse(new TextDecoder().decode(msg.data)) as SqlReply;
}

live.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  // What the reader role may send (sluice sql signs in as it), and the API's own user for its query path.
  ctx.nc = await connectAsClient(ctx.nats, "sluice:sql");
  ctx.api = await connectAsClient(ctx.nats, "sluice:api");
  ctx.stateDir = realpathSync(mkdtempSync(join(tmpdir(), "sluice-sql-ro-")));
  const made = sluiceSql(ctx.stateDir, "CREATE TABLE default.keep ENGINE = MergeTree ORDER BY tuple() AS SELECT number AS n FROM numbers(5)");
  assert.is(made.status, 0, made.stderr);
  ctx.owner = SluiceProcess.start(["actor", "clickhouse-sink-dlq"], { NATS_URL: ctx.nats.url, SLUICE_STATE_DIR: ctx.stateDir, SLUICE_LOG_LEVEL: "info" });
  await waitFor(async () => ctx.owner.output, (out) => /actors running/.test(out) || ctx.owner.child.exitCode !== null, 60_000, 100);
  assert.match(ctx.owner.output, /actors running/);
});
live.after(async (ctx) => {
  await ctx.owner?.kill("SIGTERM");
  await ctx.nc?.close();
  await ctx.api?.close();
  await ctx.nats?.stop();
  if (ctx.stateDir) rmSync(ctx.stateDir, { recursive: true, force: true });
});

live("DROP, INSERT, file(), a second statement, a comment trick and INTO OUTFILE are refused, and nothing changed", async ({ nc, stateDir, owner }) => {
  const outfile = join(stateDir, "leak.txt");
  const attempts: Array<[string, string]> = [
    ["DROP TABLE default.keep", "statement"],
    ["INSERT INTO default.keep SELECT 99", "statement"],
    ["SELECT * FROM file('/etc/passwd')", "table_function"],
    ["SELECT * FROM file('/etc/passwd', 'LineAsString')", "table_function"],
    ["SELECT 1; DROP TABLE default.keep", "multiple"],
    ["SELECT 1 /* /* */ ; TRUNCATE TABLE default.keep /* */", "multiple"],
    [`SELECT 1 INTO OUTFILE '${outfile}'`, "outfile"],
  ];
  for (const [query, denied] of attempts) {
    const reply = await ask(nc, query);
    assert.is(reply.ok, false, query);
    if (!reply.ok) {
      assert.is(reply.denied, denied, query);
      assert.match(reply.error, /^sluice\.rpc\.sql is read-only: /, query);
    }
  }
  const left = await ask(nc, "SELECT count(), sum(n) FROM default.keep");
  assert.equal(left.ok && left.rows, [["5", "10"]], "the table is as it was");
  assert.not.ok(existsSync(outfile), "no file was written");
  // Counted where it was decided: the owner logs each refusal by its kind, never the SQL.
  const log = await waitFor(async () => owner.output, (out) => (out.match(/sql rpc: refused/g) ?? []).length >= attempts.length, 30_000, 100);
  assert.not.match(log, /etc\/passwd/);
});

live("a result over the row limit comes back cut and flagged, and the next query is answered cleanly", async ({ nc }) => {
  const reply = await ask(nc, `SELECT number FROM numbers(${READ_LIMITS.maxResultRows * 3})`);
  assert.ok(reply.ok, !reply.ok ? reply.error : "");
  if (reply.ok) {
    assert.is(reply.rows.length, READ_LIMITS.maxResultRows);
    assert.is(reply.truncated, true);
  }
  // chDB keeps a thrown limit's partial output for the next reply; a cut limit must not.
  const small = await ask(nc, "SELECT number FROM numbers(3)");
  assert.equal(small.ok && small.rows, [["0"], ["1"], ["2"]]);
  assert.is(small.ok && small.truncated, undefined);
});

live("ordinary reads still work through sluice sql and through the API's query path", async ({ nats, api, stateDir }) => {
  const cli = sluiceSql(stateDir, "SELECT sum(n) AS s FROM default.keep -- a comment", nats);
  assert.is(cli.status, 0, cli.stderr);
  assert.equal(JSON.parse(cli.stdout), [{ s: "10" }]);
  const refused = sluiceSql(stateDir, "DROP TABLE default.keep", nats);
  assert.is.not(refused.status, 0);
  assert.match(refused.stderr, /sluice\.rpc\.sql is read-only: DROP is not allowed/);
  const rows = natsSqlRows(api, embeddedDataDir({ stateDir }));
  assert.equal(await rows("SHOW TABLES FROM default"), [{ name: "keep" }]);
  assert.equal(await rows("WITH 2 AS k SELECT count() AS c FROM default.keep WHERE n >= k"), [{ c: "3" }]);
});

live("a reader's refused DROP TABLE and file() read are counted in sluice_denied_total where they are decided", async ({ nats, nc }) => {
  // An owner in this process, so its counter can be read here (the child owner above only logs its refusals).
  const dataDir = realpathSync(mkdtempSync(join(tmpdir(), "sluice-sql-ro-count-")));
  const ch = await openClickHouse({ dataDir, logger: { info: () => undefined, warn: () => undefined } });
  const ownerNc = await connectAsClient(nats, "sluice:up");
  const served = serveSql(ownerNc, ch.client, { dataDir, log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined } as never });
  try {
    // The subscription is on the server before the first request, or that request finds no responder.
    await withDeadline(ownerNc.flush(), { what: "the owner's subscription", timeoutMs: 10_000 });
    const before = { statement: denialCount("sql_rpc", "statement"), table_function: denialCount("sql_rpc", "table_function") };
    for (const query of ["DROP TABLE default.anything", "SELECT * FROM file('/etc/passwd')"]) {
      const err = await askSql(nc, query, dataDir, 30_000).then(() => undefined, (e: Error) => e);
      assert.match(err?.message ?? "(answered)", /sluice\.rpc\.sql is read-only/, `${query}: ${err?.message}`);
    }
    assert.is(denialCount("sql_rpc", "statement"), before.statement + 1);
    assert.is(denialCount("sql_rpc", "table_function"), before.table_function + 1);
  } finally {
    await served.stop();
    await ownerNc.close();
    await ch.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

live("the reader's requests, sluice sql and the API signed in as their own users, none as the test probe", async ({ nats }) => {
  assert.equal(await nats.sluiceClientsAsProbe(), []);
  if (nats.credentialsDir) {
    const users = new Set((await nats.connections()).filter((c) => c.name.startsWith("sluice:")).map((c) => c.user));
    assert.ok(users.has("reader") && users.has("api"), [...users].join(", "));
  }
});

pure.run();
live.run();
