// `sluice deploy clickhouse-users` and the cluster: it reads CLICKHOUSE_CLUSTER and nothing else of
// the configuration (the accounts come before the rest of a deployment's settings), `--cluster ''`
// is a single server, and a bad name is refused by the same check as the migrations' before it
// reaches a statement or the 18.16 XML's comment.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { clickhouseUsersXml } from "../../auth/clickhouse-users.ts";
import { ClusterDdlError } from "../../clickhouse/cluster.ts";

const BIN = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));

function deploy(args: string[], env: Record<string, string> = {}) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("CLICKHOUSE_") && !k.startsWith("SLUICE_")));
  const r = spawnSync(process.execPath, [BIN, "deploy", "clickhouse-users", ...args], { env: { ...clean, ...env }, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const onCluster = (sql: string) => [...sql.matchAll(/ ON CLUSTER (\w+)/g)].map((m) => m[1]);

test("CLICKHOUSE_CLUSTER alone is read: settings the command does not use, even invalid ones, do not stop it", () => {
  // Each of these fails loadConfig: a cluster without CLICKHOUSE_URL, a bad partition count.
  const r = deploy(["--views"], { CLICKHOUSE_CLUSTER: "c1", SLUICE_PARTITIONS: "zero" });
  assert.is(r.code, 0, r.err);
  const named = onCluster(r.out);
  assert.ok(named.length > 0, `the views are made ON CLUSTER: ${r.out.slice(0, 200)}`);
  assert.equal([...new Set(named)], ["c1"], "on the cluster CLICKHOUSE_CLUSTER names");
  const sql = deploy([], { CLICKHOUSE_CLUSTER: "c1", CLICKHOUSE_INSERT_QUORUM: "2" });
  assert.is(sql.code, 0, sql.err);
  assert.equal([...new Set(onCluster(sql.out))], ["c1"], "the accounts' SQL too");
});

test("--cluster wins over CLICKHOUSE_CLUSTER, and --cluster '' is a single server", () => {
  const other = deploy(["--views", "--cluster", "c2"], { CLICKHOUSE_CLUSTER: "c1" });
  assert.is(other.code, 0, other.err);
  assert.equal([...new Set(onCluster(other.out))], ["c2"]);
  const single = deploy(["--views", "--cluster", ""], { CLICKHOUSE_CLUSTER: "c1" });
  assert.is(single.code, 0, single.err);
  assert.ok(single.out.includes("CREATE VIEW"), "the views are printed");
  assert.equal(onCluster(single.out), [], "without ON CLUSTER");
  const none = deploy(["--views"], { CLICKHOUSE_CLUSTER: "" });
  assert.is(none.code, 0, none.err);
  assert.equal(onCluster(none.out), [], "an empty CLICKHOUSE_CLUSTER is no cluster either");
});

test("a bad cluster name is a usage error naming where it came from, before anything is printed", () => {
  const flag = deploy(["--cluster", "a-b"]);
  assert.is(flag.code, 2, flag.err);
  assert.match(flag.err, /--cluster "a-b": expected a cluster name of <remote_servers> \(letters, digits, underscore\)/);
  assert.is(flag.out, "");
  const env = deploy(["--server-version", "18.16"], { CLICKHOUSE_CLUSTER: "x --> y" });
  assert.is(env.code, 2, env.err);
  assert.match(env.err, /CLICKHOUSE_CLUSTER "x --> y": expected a cluster name/);
  assert.is(env.out, "");
});

test("clickhouseUsersXml checks the cluster name before writing it into an XML comment", () => {
  const opts = { serverVersion: "18.16", passwords: { migrator: "m", writer: "w", analyst: "a" }, networks: ["127.0.0.1"] };
  assert.ok(clickhouseUsersXml({ ...opts, cluster: "c1" }).includes("Cluster c1:"), "a good name is written");
  assert.throws(() => clickhouseUsersXml({ ...opts, cluster: "c --> <yandex/>" }), (err: unknown) => err instanceof ClusterDdlError);
});

test.run();
