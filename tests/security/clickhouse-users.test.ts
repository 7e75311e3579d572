// sluice deploy clickhouse-users, both outputs: the users.d XML against Debian's clickhouse-server
// 18.16 (each account can do what it is for and is refused the rest), and the SQL RBAC script
// parsed statement by statement by chDB's own parser (chDB has no access management to run it).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from "@clickhouse/client";
import { migrate, openClickHouse, type OpenClickHouse } from "../../clickhouse/index.ts";
import { ANALYST_DATABASE, analystViewStatements, clickhouseUsersSql } from "../../auth/clickhouse-users.ts";
import { ClickHouseServer } from "../harness/clickhouse-server.ts";

const BIN = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));
const silent = { info: () => undefined, warn: () => undefined };

/** `sluice deploy …`; the passwords it prints on stderr, by account. */
function deploy(args: string[]): { stdout: string; passwords: Record<string, string> } {
  const r = spawnSync(process.execPath, [BIN, "deploy", ...args], { encoding: "utf8", timeout: 30_000, env: { ...process.env, SLUICE_LOG_LEVEL: "warn" } });
  assert.is(r.status, 0, r.stderr);
  const passwords = Object.fromEntries([...r.stderr.matchAll(/^\s+(migrator|writer|analyst)\s+(\S+)\s+(\S+)$/gm)].map((m) => [m[2]!, m[3]!]));
  return { stdout: r.stdout, passwords };
}

const server = suite<{ ch: ClickHouseServer; dir: string; passwords: Record<string, string>; clients: ClickHouseClient[] }>("users.d XML on clickhouse-server 18.16");

server.before(async (ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), "sluice-ch-users-"));
  ctx.clients = [];
  ctx.ch = await ClickHouseServer.start();
  mkdirSync(join(ctx.ch.dir, "users.d"));
  const out = join(ctx.ch.dir, "users.d", "sluice.xml");
  ctx.passwords = deploy(["clickhouse-users", "--server-version", "18.16.1", "--out", out]).passwords;
  assert.equal(Object.keys(ctx.passwords).sort(), ["sluice_migrations", "sluice_reader", "sluice_sink"]);
  assert.is(statSync(out).mode & 0o777, 0o600);
  const xml = readFileSync(out, "utf8");
  for (const password of Object.values(ctx.passwords)) assert.not.ok(xml.includes(password), "only the hash is in the file");
  await ctx.ch.restart();
});
server.after(async (ctx) => {
  for (const c of ctx.clients ?? []) await c.close();
  await ctx.ch?.stop();
  rmSync(ctx.dir, { recursive: true, force: true });
});

function as(ctx: { ch: ClickHouseServer; passwords: Record<string, string>; clients: ClickHouseClient[] }, user: string, database: string): ClickHouseClient {
  const client = createClient({ url: ctx.ch.url, username: user, password: ctx.passwords[user], database, log: { level: ClickHouseLogLevel.OFF } });
  ctx.clients.push(client);
  return client;
}

async function refused(run: Promise<unknown>, message: RegExp): Promise<void> {
  const err = await run.then(() => undefined, (e: Error) => e);
  assert.ok(err, "expected a refusal");
  assert.match(err!.message, message);
}

server("the migrator migrates and creates the views; the sink inserts but cannot drop; the reader reads but cannot insert or drop", async (ctx) => {
  let opened: OpenClickHouse | undefined;
  try {
    opened = await openClickHouse({ url: ctx.ch.url, user: "sluice_migrations", password: ctx.passwords.sluice_migrations, dataDir: ctx.dir, logger: silent });
    await migrate(opened.client, opened.caps);
  } finally {
    await opened?.close();
  }
  const migrator = as(ctx, "sluice_migrations", "sluice");
  const views = deploy(["clickhouse-users", "--server-version", "18.16", "--views"]).stdout.split(";\n").filter((s) => s.trim());
  assert.equal(views, analystViewStatements("18.16"));
  for (const statement of views) await migrator.command({ query: statement });

  const sink = as(ctx, "sluice_sink", "sluice");
  await sink.command({ query: "INSERT INTO sluice.events (event_id, source, key, payload) VALUES ('e1', 'iot', 'k', '{\"name\":\"x\"}')" });
  await refused(sink.command({ query: "DROP TABLE sluice.events" }), /DDL queries are prohibited/);
  await refused(sink.command({ query: "CREATE TABLE sluice.extra (a UInt8) ENGINE = Memory" }), /DDL queries are prohibited/);
  await refused(sink.command({ query: "SELECT 1 FROM default.nothing" }), /Access denied to database default/);

  const reader = as(ctx, "sluice_reader", ANALYST_DATABASE);
  const rows = await (await reader.query({ query: `SELECT event_id, source FROM ${ANALYST_DATABASE}.events`, format: "JSONEachRow" })).json();
  assert.equal(rows, [{ event_id: "e1", source: "iot" }]);
  await refused(reader.query({ query: `SELECT payload FROM ${ANALYST_DATABASE}.events` }), /payload/);
  await refused(reader.command({ query: "INSERT INTO sluice.events (event_id) VALUES ('e2')" }), /readonly mode/);
  await refused(reader.command({ query: `DROP TABLE ${ANALYST_DATABASE}.events` }), /readonly mode/);
  await refused(reader.command({ query: "SET readonly = 0" }), /readonly/);
  const [{ n }] = await (await migrator.query({ query: "SELECT count() AS n FROM sluice.events", format: "JSONEachRow" })).json<{ n: string }>();
  assert.is(Number(n), 1, "nothing the refused statements tried was applied");
});

const sql = suite("SQL RBAC script, parsed by chDB");

sql("every statement of the script parses as the statement it is meant to be", async () => {
  const { stdout, passwords } = deploy(["clickhouse-users", "--server-version", "24.8", "--network", "10.0.0.0/8"]);
  const statements = stdout.split(";\n").filter((s) => s.trim());
  assert.is(statements.length, clickhouseUsersSql({ serverVersion: "24.8", passwords: { migrator: "", writer: "", analyst: "" }, networks: ["x"] }).length);
  for (const password of Object.values(passwords)) assert.not.ok(stdout.includes(password), "only the hash is in the script");
  assert.match(stdout, /GRANT SELECT, INSERT ON sluice\.\* TO sluice_writer/);
  assert.match(stdout, /GRANT SELECT ON sluice_analyst\.\* TO analyst/);
  assert.match(stdout, /HOST IP '10\.0\.0\.0\/8'/);
  assert.not.match(stdout, /GRANT [^;]*(DROP|ALL)[^;]* TO (sluice_writer|analyst)/);
  const dataDir = mkdtempSync(join(tmpdir(), "sluice-ch-users-chdb-"));
  const ch = await openClickHouse({ dataDir, logger: silent });
  try {
    const kinds = new Map<string, string>();
    for (const statement of statements) {
      // One statement per call: chDB runs every statement of a multi-statement text.
      const ast = await (await ch.client.query({ query: `EXPLAIN AST ${statement}`, format: "TabSeparatedRaw" })).text();
      kinds.set(statement.split(" ").slice(0, 2).join(" "), ast.replace(/^"/, "").split(/[\s(]/)[0]!);
    }
    assert.is(kinds.get("CREATE USER"), "CreateUserQuery");
    assert.is(kinds.get("CREATE ROLE"), "CreateRoleQuery");
    assert.is(kinds.get("GRANT SELECT,"), "GrantQuery");
    assert.is(kinds.get("SET DEFAULT"), "SetRoleQuery");
    assert.is(kinds.get("CREATE VIEW"), "CreateQuery");
    // The views name real columns: created for real (without the definer, which needs RBAC).
    await migrate(ch.client, ch.caps);
    for (const statement of analystViewStatements("24.1")) await ch.client.command({ query: statement });
    const cols = await (await ch.client.query({ query: `SELECT name FROM system.columns WHERE database = '${ANALYST_DATABASE}' AND table = 'events'`, format: "JSONEachRow" })).json<{ name: string }>();
    assert.ok(cols.length >= 9);
    assert.not.ok(cols.some((c) => c.name === "payload"));
  } finally {
    await ch.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

server.run();
sql.run();
