import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { ClickHouseClient } from "@clickhouse/client";
import { ClickHouseServer, freePort } from "./clickhouse-server.ts";

/** Debian's zookeeper package puts the server and its dependencies (by the jar's manifest) here. */
const ZOOKEEPER_JAR = "/usr/share/java/zookeeper.jar";
const START_TIMEOUT_MS = 60_000;

/**
 * A standalone ZooKeeper (Debian's 3.8) as a plain process of the test: its own zoo.cfg, data
 * directory and loopback port, no service. ClickHouse's replicated tables and ON CLUSTER DDL
 * coordinate through it.
 */
export class ZooKeeper {
  readonly dir: string;
  port = 0;
  private child?: ChildProcess;
  private output = "";

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async start(): Promise<ZooKeeper> {
    if (!existsSync(ZOOKEEPER_JAR)) throw new Error(`ZooKeeper is not installed (${ZOOKEEPER_JAR} is missing): apt-get install -y zookeeper`);
    const zk = new ZooKeeper(mkdtempSync(join(tmpdir(), "sluice-zookeeper-")));
    zk.port = await freePort();
    mkdirSync(join(zk.dir, "data"));
    // Sessions may last up to 20 ticks: the servers ask for 15 s, so a loaded machine's stalls do
    // not expire them (an expired session makes replicated tables read-only until it is renewed).
    writeFileSync(join(zk.dir, "zoo.cfg"), [
      "tickTime=1000",
      `dataDir=${join(zk.dir, "data")}`,
      `clientPort=${zk.port}`,
      "clientPortAddress=127.0.0.1",
      "maxClientCnxns=0",
      "admin.enableServer=false",
      "4lw.commands.whitelist=srvr",
      "",
    ].join("\n"));
    writeFileSync(join(zk.dir, "log4j.properties"), [
      "log4j.rootLogger=WARN, CONSOLE",
      "log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender",
      "log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout",
      "log4j.appender.CONSOLE.layout.ConversionPattern=%d %p %c: %m%n",
      "",
    ].join("\n"));
    await zk.launch();
    return zk;
  }

  private async launch(): Promise<void> {
    const child = spawn("java", ["-Xmx256m", "-cp", `${this.dir}:${ZOOKEEPER_JAR}`, "org.apache.zookeeper.server.ZooKeeperServerMain", join(this.dir, "zoo.cfg")], {
      cwd: this.dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.on("data", (d) => (this.output += d));
    child.stderr!.on("data", (d) => (this.output += d));
    let spawnError: Error | undefined;
    child.once("error", (e) => (spawnError = e));
    this.child = child;
    // A JVM outlives a test process that dies without its after hook; this one goes with it.
    const killOnExit = () => child.kill("SIGKILL");
    process.once("exit", killOnExit);
    child.once("exit", () => process.removeListener("exit", killOnExit));
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (spawnError) throw new Error(`could not start ZooKeeper with java: ${spawnError.message}`, { cause: spawnError });
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`ZooKeeper exited early (code ${child.exitCode}):\n${this.output.slice(-3000)}`);
      // `srvr` answers "Mode: standalone" only once the server serves sessions (`ruok` says imok
      // earlier, and an 18.16 server whose first session is refused can crash: seen, a segfault).
      if (/Mode: standalone/.test(await this.fourLetter("srvr"))) return;
      await sleep(200);
    }
    child.kill("SIGKILL");
    throw new Error(`ZooKeeper did not serve (srvr) on port ${this.port} within ${START_TIMEOUT_MS} ms:\n${this.output.slice(-3000)}`);
  }

  /** One of ZooKeeper's four-letter commands, answered on a connection of its own. */
  private fourLetter(command: string): Promise<string> {
    return new Promise((resolve) => {
      const socket = connect({ host: "127.0.0.1", port: this.port });
      let answer = "";
      socket.setTimeout(1_000, () => socket.destroy());
      socket.on("connect", () => socket.write(command));
      socket.on("data", (d) => (answer += d));
      socket.on("close", () => resolve(answer.trim()));
      socket.on("error", () => resolve(""));
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The rows a query returns, one object each (JSONEachRow); `scalar` (run-snapshot.ts) reads one number. */
export async function rows<T>(client: ClickHouseClient, query: string): Promise<T[]> {
  const rs = await client.query({ query, format: "JSONEachRow" });
  return rs.json<T>();
}

export const CLUSTER_NAME = "sluice_test";
/** The replicas' ZooKeeper session timeout: a SIGKILLed replica is seen gone (its is_active node removed) this long after. */
export const ZOOKEEPER_SESSION_MS = 15_000;

/**
 * One ZooKeeper and Debian clickhouse-server 18.16 processes on loopback: by default one shard of
 * two replicas (`internal_replication`: a Distributed insert writes one replica, which replicates),
 * macros `{shard}`/`{replica}` per server, and the distributed DDL queue, so `ON CLUSTER`
 * statements run on both. `replicas[i].kill()` / `.restart()` take one down and bring it back on
 * its data and ports.
 *
 * @example
 * const cluster = await ClickHouseCluster.start();
 * // CLICKHOUSE_URL=cluster.replicas[0].url CLICKHOUSE_CLUSTER=cluster.name
 * await cluster.stop();
 */
export class ClickHouseCluster {
  readonly name = CLUSTER_NAME;

  readonly zookeeper: ZooKeeper;
  readonly replicas: readonly ClickHouseServer[];

  private constructor(zookeeper: ZooKeeper, replicas: readonly ClickHouseServer[]) {
    this.zookeeper = zookeeper;
    this.replicas = replicas;
  }

  /**
   * `shards` × `replicasPerShard` servers (default one shard of two replicas); `replicas` lists
   * them shard by shard, so with two shards of one replica `replicas[1]` is the second shard.
   */
  static async start(layout: { shards?: number; replicasPerShard?: number } = {}): Promise<ClickHouseCluster> {
    const shards = layout.shards ?? 1;
    const perShard = layout.replicasPerShard ?? 2;
    const zookeeper = await ZooKeeper.start();
    const ports: Array<{ shard: number; httpPort: number; tcpPort: number; interserverPort: number }> = [];
    for (let i = 0; i < shards * perShard; i++) ports.push({ shard: Math.floor(i / perShard) + 1, httpPort: await freePort(), tcpPort: await freePort(), interserverPort: await freePort() });
    const shardXml = (shard: number) => `      <shard>
        <internal_replication>true</internal_replication>
${ports.filter((p) => p.shard === shard).map((p) => `        <replica><host>127.0.0.1</host><port>${p.tcpPort}</port></replica>`).join("\n")}
      </shard>`;
    const remoteServers = `
  <remote_servers>
    <${CLUSTER_NAME}>
${Array.from({ length: shards }, (_, i) => shardXml(i + 1)).join("\n")}
    </${CLUSTER_NAME}>
  </remote_servers>`;
    const replicas: ClickHouseServer[] = [];
    try {
      // One at a time: 18.16 servers starting together on 2 shared cores each take much longer.
      for (const [i, p] of ports.entries()) {
        replicas.push(await ClickHouseServer.start({
          httpPort: p.httpPort,
          tcpPort: p.tcpPort,
          extraConfig: `  <interserver_http_host>127.0.0.1</interserver_http_host>
  <interserver_http_port>${p.interserverPort}</interserver_http_port>
  <zookeeper>
    <node><host>127.0.0.1</host><port>${zookeeper.port}</port></node>
    <session_timeout_ms>${ZOOKEEPER_SESSION_MS}</session_timeout_ms>
  </zookeeper>
  <macros>
    <shard>${String(p.shard).padStart(2, "0")}</shard>
    <replica>replica-${i + 1}</replica>
  </macros>${remoteServers}
  <distributed_ddl>
    <path>/clickhouse/task_queue/ddl</path>
  </distributed_ddl>
`,
        }));
      }
    } catch (err) {
      for (const r of replicas) await r.stop().catch(() => undefined);
      await zookeeper.stop();
      throw err;
    }
    return new ClickHouseCluster(zookeeper, replicas);
  }

  /**
   * Writes `xml` as `users.d/<name>` of every server, as an operator installs the 18.16 accounts
   * on each node (18.16 keeps users in each server's own config and reloads users.d within
   * seconds: wait for a sign-in, not a fixed time).
   */
  installUsers(name: string, xml: string): void {
    for (const server of this.replicas) {
      mkdirSync(join(server.dir, "users.d"), { recursive: true });
      writeFileSync(join(server.dir, "users.d", name), xml);
    }
  }

  /** Every server's error log, for a failing test's message. */
  logs(): string {
    return this.replicas.map((r, i) => `--- replica ${i + 1}\n${r.logs()}`).join("\n");
  }

  /**
   * SIGKILL, all at once: the data goes with the test, and a graceful stop of an 18.16 server
   * with replicated tables took ~6 s each under load (25 s of a four-server file's 62).
   */
  async stop(): Promise<void> {
    await Promise.all(this.replicas.map(async (r) => {
      await r.kill("SIGKILL").catch(() => undefined);
      await r.stop().catch(() => undefined);
    }));
    await this.zookeeper.stop();
  }
}

