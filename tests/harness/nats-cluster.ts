import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import type { ActorName } from "../../actors/pipeline.ts";
import { withDeadline } from "../../nats/deadline.ts";
import { MAX_PINGS_OUT, PING_INTERVAL_MS } from "../../nats/connect.ts";
import { NatsServer } from "./nats-server.ts";
import { testNatsAuthOn, TestNatsUsers } from "./test-nats-auth.ts";

/**
 * A JetStream cluster of real nats-servers on loopback for one test file: each node its own
 * client, route and monitoring port and store dir (NatsServer), one set of generated users
 * shared by all (SLUICE_TEST_NATS_AUTH, as a single harness server has). Faults by node name:
 * `kill` (SIGKILL), `pause` / `resume` (SIGSTOP / SIGCONT), `restart` on the same store and ports.
 *
 * @example
 * const cluster = await NatsCluster.start(3);
 * const leader = await cluster.metaLeader();
 * await cluster.kill(leader);
 * await cluster.restart(leader);
 * await cluster.stop();
 */
export const CLUSTER_NAME = "sluice-test";

/** Free loopback TCP ports (the OS picks them; released before the servers bind them). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<import("node:net").Server>((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => resolve(s));
  })));
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** A node's `/jsz` monitoring answer, the part the harness reads. */
interface Jsz {
  readonly meta_cluster?: { readonly leader?: string; readonly cluster_size?: number; readonly replicas?: ReadonlyArray<{ readonly name: string; readonly current: boolean; readonly offline?: boolean }> };
}

export class NatsCluster {
  /** Node names (`n1`…), in start order. */
  readonly names: readonly string[];
  private readonly nodes: ReadonlyMap<string, NatsServer>;
  private readonly users: TestNatsUsers | undefined;
  private readonly paused = new Set<string>();

  private constructor(nodes: Map<string, NatsServer>, users: TestNatsUsers | undefined) {
    this.nodes = nodes;
    this.names = [...nodes.keys()];
    this.users = users;
  }

  /** `jetstream`: extra settings of every node's jetstream block (e.g. `sync_interval: always`). */
  static async start(size = 3, opts: { jetstream?: readonly string[] } = {}): Promise<NatsCluster> {
    const routePorts = await freePorts(size);
    const users = testNatsAuthOn() ? new TestNatsUsers() : undefined;
    const names = routePorts.map((_, i) => `n${i + 1}`);
    const nodes = await Promise.all(names.map((name, i) => NatsServer.start({
      users,
      jetstream: opts.jetstream,
      nodeConfig: [
        `server_name: "${name}"`,
        `cluster {\n  name: "${CLUSTER_NAME}"\n  listen: "127.0.0.1:${routePorts[i]}"\n  routes: [${routePorts.filter((_, j) => j !== i).map((p) => `"nats-route://127.0.0.1:${p}"`).join(", ")}]\n}`,
      ],
    })));
    const cluster = new NatsCluster(new Map(names.map((n, i) => [n, nodes[i]])), users);
    await cluster.metaLeader(60_000);
    return cluster;
  }

  /** Every node's client URL, comma-separated: what NATS_URL holds for a client of the cluster. */
  get url(): string {
    return this.names.map((n) => this.node(n).url).join(",");
  }

  node(name: string): NatsServer {
    const node = this.nodes.get(name);
    if (!node) throw new Error(`no node ${name} in this cluster (nodes: ${this.names.join(", ")})`);
    return node;
  }

  /** Nodes that run and are not paused. */
  get live(): string[] {
    return this.names.filter((n) => this.node(n).alive && !this.paused.has(n));
  }

  private async jsz(name: string): Promise<Jsz> {
    const monitoring = this.node(name).monitoringUrl;
    if (!monitoring) throw new Error(`node ${name} has no monitoring endpoint`);
    const res = await fetch(`${monitoring}/jsz`, { signal: AbortSignal.timeout(3_000) });
    return (await res.json()) as Jsz;
  }

  /**
   * The JetStream meta leader's node name, once every live node names the same one (after a kill
   * the survivors elect a new one; until then some say none or the old one).
   */
  async metaLeader(timeoutMs = 60_000, not?: string): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let seen = "";
    for (;;) {
      const live = this.live;
      const leaders = await Promise.all(live.map((n) => this.jsz(n).then((j) => j.meta_cluster?.leader ?? "", () => "")));
      seen = `${live.map((n, i) => `${n}→${leaders[i] || "none"}`).join(" ")}`;
      const leader = leaders[0];
      if (leader && leader !== not && live.includes(leader) && leaders.every((l) => l === leader)) return leader;
      if (Date.now() > deadline) throw new Error(`no JetStream meta leader agreed by the live nodes within ${timeoutMs} ms (${seen})`);
      await sleep(200);
    }
  }

  /** A probe connection to the live nodes (the test-only probe user under SLUICE_TEST_NATS_AUTH). */
  async probe(): Promise<NatsConnection> {
    // Pings as nats/connect.ts sends them: a probe on a paused node moves on within seconds.
    return connect({ servers: this.live.map((n) => this.node(n).url), maxReconnectAttempts: -1, reconnectTimeWait: 200, timeout: 5_000, pingInterval: PING_INTERVAL_MS, maxPingOut: MAX_PINGS_OUT });
  }

  /**
   * The leader of `stream` (its RAFT group's, from STREAM.INFO's cluster info), once it is a live
   * node other than `not` and the stream has `replicas` current replicas besides it.
   */
  async streamLeader(nc: NatsConnection, stream: string, opts: { not?: string; current?: number; timeoutMs?: number } = {}): Promise<string> {
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    let seen = "no answer";
    for (;;) {
      try {
        // No account-info check: right after a kill the connection may still be finding a live node.
        const jsm = await jetstreamManager(nc, { timeout: 5_000, checkAPI: false });
        const info = await withDeadline(() => jsm.streams.info(stream), { what: `stream ${stream} info`, timeoutMs: 6_000 });
        const leader = info.cluster?.leader ?? "";
        const current = (info.cluster?.replicas ?? []).filter((r) => r.current && !r.offline).length;
        seen = `leader ${leader || "none"}, current followers ${current}`;
        if (leader && leader !== opts.not && this.live.includes(leader) && current >= (opts.current ?? 0)) return leader;
      } catch (err) {
        seen = (err as Error).message;
      }
      if (Date.now() > deadline) throw new Error(`stream ${stream}: no leader on a live node${opts.not ? ` other than ${opts.not}` : ""} within ${timeoutMs} ms (${seen})`);
      await sleep(200);
    }
  }

  /** Waits until every node reports every peer of the meta group current (a restarted node caught up). */
  async allCurrent(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let seen = "";
    for (;;) {
      const leader = await this.metaLeader(Math.max(1_000, deadline - Date.now()));
      const jsz = await this.jsz(leader).catch(() => undefined);
      const replicas = jsz?.meta_cluster?.replicas ?? [];
      seen = replicas.map((r) => `${r.name}:${r.current ? "current" : "behind"}`).join(" ");
      if (replicas.length === this.names.length - 1 && replicas.every((r) => r.current && !r.offline)) return;
      if (Date.now() > deadline) throw new Error(`the meta group did not have every node current within ${timeoutMs} ms (leader ${leader}; ${seen})`);
      await sleep(250);
    }
  }

  async kill(name: string): Promise<void> {
    await this.node(name).kill("SIGKILL");
  }

  /** SIGSTOP: the node holds its connections and answers nothing (a partitioned or hung server). */
  pause(name: string): void {
    process.kill(this.node(name).pid!, "SIGSTOP");
    this.paused.add(name);
  }

  resume(name: string): void {
    process.kill(this.node(name).pid!, "SIGCONT");
    this.paused.delete(name);
  }

  /** Starts a killed (or stops and starts a running) node on its store and ports. */
  async restart(name: string): Promise<void> {
    await this.node(name).restart();
  }

  /** Gives a process running `actors` its own user on every node (one shared set of secrets). */
  async ensureProcessUser(actors: readonly ActorName[], partitions: number): Promise<void> {
    if (!this.users || this.users.has(actors, partitions)) return;
    this.users.addProcess(actors, partitions);
    for (const name of this.names) this.node(name).reloadConfig();
    for (const name of this.names) await this.node(name).waitForSignIn(actors);
  }

  async stop(): Promise<void> {
    for (const name of this.paused) this.resume(name);
    await Promise.all(this.names.map((n) => this.node(n).stop()));
    this.users?.remove();
  }
}
