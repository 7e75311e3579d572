// `sluice deploy nats-cluster 3`: the configs it writes start a working 3-node JetStream cluster
// (Debian's nats-server 2.9.10: without --server-version the command writes for the nats-server on
// PATH, so no sync_interval) with sluice's generated users; a stream
// of 3 replicas can be created and written by the admin user, and an unknown client is refused.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { run } from "../../cli/deploy.ts";
import { clusterNodeConfig, hasSyncInterval } from "../../cli/nats-cluster.ts";
import { loadConfig } from "../../config/index.ts";
import { closeNats, connectNats } from "../../nats/connect.ts";
import { withDeadline } from "../../nats/deadline.ts";
import { waitFor } from "../harness/wait.ts";

interface Ctx {
  dir: string;
  base: number;
  servers: ChildProcess[];
}

const test = suite<Ctx>("sluice deploy nats-cluster");

/** The error `work` rejects with (fails the test when it resolves). */
async function rejection(work: () => Promise<unknown>): Promise<Error> {
  try {
    await work();
  } catch (err) {
    return err as Error;
  }
  assert.unreachable("expected a rejection, it resolved");
  throw new Error("unreachable");
}

let stopping = false;

const portFree = (port: number) => new Promise<boolean>((resolve) => {
  const s = createServer();
  s.once("error", () => resolve(false));
  s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
});

/** A base port whose client, route and monitoring blocks of 3 consecutive ports are all free. */
async function freeBase(): Promise<number> {
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 9_000);
    const ports = [0, 1, 2].flatMap((i) => [base + i, base + 10_000 + i, base + 20_000 + i]);
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
}

test.before(async (ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), "sluice-deploy-cluster-"));
  ctx.base = await freeBase();
  ctx.servers = [];
});

test.after(async (ctx) => {
  stopping = true;
  await Promise.all(ctx.servers.map((child) => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(undefined);
    child.once("exit", resolve);
    child.kill("SIGTERM");
  })));
  rmSync(ctx.dir, { recursive: true, force: true });
});

test("refuses a node count below 3 and an unknown --sync, saying what to give", async ({ dir }) => {
  assert.match((await rejection(() => run(["nats-cluster", "2", "--out", dir]))).message, /N must be a node count from 3 to 9/);
  assert.match((await rejection(() => run(["nats-cluster", "3", "--out", dir, "--sync", "sometimes"]))).message, /expected always or a duration/);
});

test("sync_interval: written for 2.10 and later, commented out (with the reason) for 2.9, which refuses it", () => {
  assert.ok(hasSyncInterval("2.10") && hasSyncInterval("2.12.1") && !hasSyncInterval("2.9.10"));
  const nodes = [1, 2, 3].map((i) => ({ name: `n${i}`, host: "127.0.0.1", clientPort: 4221 + i, routePort: 6221 + i, monitorPort: 8221 + i, storeDir: `/data/n${i}` }));
  const opts = { clusterName: "sluice", domain: "sluice", nodes, routeUser: "r", routePassword: "p", sync: "always" as const };
  assert.match(clusterNodeConfig({ ...opts, serverVersion: "2.10" }, 0), /^\s+sync_interval: always$/m);
  const old = clusterNodeConfig({ ...opts, serverVersion: "2.9" }, 0);
  assert.not.match(old, /^\s+sync_interval/m);
  assert.match(old, /# sync_interval: always/);
  assert.match(old, /Jepsen/);
});

test("the written configs start a 3-node cluster with sluice's users, and an R3 stream works", async (ctx) => {
  const { dir, base } = ctx;
  const code = await run(["nats-cluster", "3", "--out", dir, "--ports", `${base},${base + 10_000},${base + 20_000}`]);
  assert.is(code, 0);
  const conf = readFileSync(join(dir, "sluice-n1.conf"), "utf8");
  assert.match(conf, /# sync_interval: 1s/, "written for the 2.9 on PATH: the default sync interval (1s) commented out");
  assert.match(conf, /include "auth.conf"/);
  assert.match(conf, new RegExp(`nats-route://sluice-route:[^@]+@127\\.0\\.0\\.1:${base + 10_001}`));
  assert.is(statSync(join(dir, "sluice-n1.conf")).mode & 0o777, 0o600, "the node config holds the route password: mode 0600");
  // A second run keeps the route secret (and the users' secrets): same configs.
  await run(["nats-cluster", "3", "--out", dir, "--ports", `${base},${base + 10_000},${base + 20_000}`]);
  assert.is(readFileSync(join(dir, "sluice-n1.conf"), "utf8"), conf);

  for (const n of [1, 2, 3]) {
    const child = spawn("nats-server", ["-c", join(dir, `sluice-n${n}.conf`)], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    child.stderr!.on("data", (d) => (log += d));
    child.once("exit", (code) => { if (code && !stopping) console.error(`sluice-n${n} exited ${code}:\n${log}`); });
    ctx.servers.push(child);
  }
  const leader = await waitFor(async () => {
    const answers = await Promise.all([0, 1, 2].map((i) => fetch(`http://127.0.0.1:${base + 20_000 + i}/jsz`).then((r) => r.json() as Promise<{ meta_cluster?: { leader?: string } }>, () => ({}))));
    const leaders = answers.map((a) => (a as { meta_cluster?: { leader?: string } }).meta_cluster?.leader ?? "");
    return leaders.every((l) => l && l === leaders[0]) ? leaders[0] : "";
  }, Boolean, 60_000, 250);
  assert.match(leader, /^sluice-n[123]$/, "the three nodes agree on a JetStream meta leader");

  const url = [0, 1, 2].map((i) => `nats://127.0.0.1:${base + i}`).join(",");
  const refused = await rejection(() => connect({ servers: url.split(","), reconnect: false, timeout: 5_000 }));
  assert.match(refused.message, /authoriz/i, "a client without credentials is refused");
  const admin = await connectNats(url, loadConfig({ SLUICE_NATS_CREDENTIALS: join(dir, "credentials") }), "sluice:up", { wait: false });
  try {
    const jsm = await jetstreamManager(admin, { timeout: 20_000 });
    const info = await withDeadline(() => jsm.streams.add({ name: "PROBE", subjects: ["probe.>"], num_replicas: 3 }), { what: "create an R3 stream", timeoutMs: 30_000 });
    assert.is(info.config.num_replicas, 3);
    const ack = await withDeadline(() => jetstream(admin, { timeout: 20_000 }).publish("probe.1", "x"), { what: "publish to the R3 stream", timeoutMs: 30_000 });
    assert.is(ack.seq, 1);
    assert.is(ack.domain, "sluice", "the JetStream domain is set, and the default $JS.API prefix still works");
    const replicas = await waitFor(async () => (await jsm.streams.info("PROBE")).cluster?.replicas?.filter((r) => r.current).length ?? 0, (n) => n === 2, 30_000);
    assert.is(replicas, 2, "the stream's two followers are current");
  } finally {
    await closeNats(admin);
  }
});

test.run();
