import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { get as httpGet } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const BINARY = "clickhouse-server";
const START_TIMEOUT_MS = 30_000;

/**
 * A real clickhouse-server (Debian's 18.16) for one test file: its own temp dir, config and
 * users file, free HTTP and TCP ports, logs in the temp dir. `restart()` and `kill()` keep the
 * data and the ports, so a test can take the server down for an outage and bring it back.
 *
 * @example
 * const ch = await ClickHouseServer.start();
 * const { client } = await openClickHouse({ url: ch.url, dataDir });
 * await ch.stop();
 */
export class ClickHouseServer {
  readonly dir: string;
  httpPort = 0;
  tcpPort = 0;
  private child?: ChildProcess;
  private stderr = "";
  /** Elements added inside `<yandex>` (a cluster's zookeeper, remote_servers, macros: tests/harness/clickhouse-cluster.ts). */
  private readonly extraConfig: string;

  private constructor(dir: string, extraConfig = "") {
    this.dir = dir;
    this.extraConfig = extraConfig;
  }

  get url(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  static async start(opts: { httpPort?: number; tcpPort?: number; extraConfig?: string } = {}): Promise<ClickHouseServer> {
    const server = new ClickHouseServer(mkdtempSync(join(tmpdir(), "sluice-clickhouse-")), opts.extraConfig);
    server.httpPort = opts.httpPort ?? (await freePort());
    server.tcpPort = opts.tcpPort ?? (await freePort());
    server.writeConfig();
    await server.launch();
    return server;
  }

  /** The server's own log and error log, for a failing test's message. */
  logs(): string {
    const read = (name: string) => {
      const path = join(this.dir, "log", name);
      return existsSync(path) ? readFileSync(path, "utf8") : "";
    };
    return `${read("clickhouse-server.err.log")}${this.stderr}`.split("\n").slice(-40).join("\n");
  }

  private writeConfig(): void {
    for (const sub of ["data", "tmp", "log", "user_files", "format_schemas"]) mkdirSync(join(this.dir, sub), { recursive: true });
    // The server wants the trailing slash on every *_path directory.
    const config = `<?xml version="1.0"?>
<yandex>
  <logger>
    <level>information</level>
    <log>${join(this.dir, "log", "clickhouse-server.log")}</log>
    <errorlog>${join(this.dir, "log", "clickhouse-server.err.log")}</errorlog>
    <size>10M</size>
    <count>1</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${this.httpPort}</http_port>
  <tcp_port>${this.tcpPort}</tcp_port>
  <path>${join(this.dir, "data")}/</path>
  <tmp_path>${join(this.dir, "tmp")}/</tmp_path>
  <user_files_path>${join(this.dir, "user_files")}/</user_files_path>
  <format_schema_path>${join(this.dir, "format_schemas")}/</format_schema_path>
  <users_config>${join(this.dir, "users.xml")}</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>67108864</mark_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
  <!-- A stop is an outage: an idle keep-alive connection holds the server's exit for up to
       keep_alive_timeout (18.16 defaults to 10 s). 3 s is today's default and stays above
       @clickhouse/client's 2.5 s idle socket TTL, so the client never reuses a closed socket. -->
  <keep_alive_timeout>3</keep_alive_timeout>
  <shutdown_wait_unfinished>0</shutdown_wait_unfinished>
${this.extraConfig}</yandex>
`;
    const users = `<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>2000000000</max_memory_usage>
      <load_balancing>random</load_balancing>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration>
        <queries>0</queries>
        <errors>0</errors>
        <result_rows>0</result_rows>
        <read_rows>0</read_rows>
        <execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
`;
    writeFileSync(join(this.dir, "config.xml"), config);
    writeFileSync(join(this.dir, "users.xml"), users);
  }

  private async launch(): Promise<void> {
    this.stderr = "";
    const child = spawn(BINARY, [`--config-file=${join(this.dir, "config.xml")}`], {
      cwd: this.dir,
      stdio: ["ignore", "ignore", "pipe"],
    });
    child.stderr!.on("data", (d) => (this.stderr += d));
    let spawnError: Error | undefined;
    child.once("error", (e) => (spawnError = e));
    this.child = child;
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (spawnError) throw new Error(`could not start ${BINARY}: ${spawnError.message}; install it with apt-get install clickhouse-server`, { cause: spawnError });
      if (!this.running) throw new Error(`clickhouse-server exited early (code ${child.exitCode}, signal ${child.signalCode}):\n${this.logs()}`);
      if (await this.ping()) return;
      await sleep(100);
    }
    await this.kill("SIGKILL");
    throw new Error(`clickhouse-server did not answer GET /ping on port ${this.httpPort} within ${START_TIMEOUT_MS} ms:\n${this.logs()}`);
  }

  /** GET /ping on a connection of its own that is closed after the answer, so it cannot hold up a later stop. */
  private ping(): Promise<boolean> {
    return new Promise((resolve) => {
      const req = httpGet(`${this.url}/ping`, { agent: false, headers: { connection: "close" }, timeout: 1_000 }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () => resolve(res.statusCode === 200 && body.trim() === "Ok."));
        res.on("error", () => resolve(false));
      });
      req.on("timeout", () => req.destroy());
      req.on("error", () => resolve(false));
    });
  }

  /** Stops the server (SIGTERM by default) and waits for it to exit; data and ports stay. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill(signal);
    await exited;
  }

  /** SIGSTOP: the server keeps its sockets but answers nothing, a hung server rather than a dead one. */
  suspend(): void {
    if (this.running) this.child!.kill("SIGSTOP");
  }

  /** SIGCONT after {@link suspend}. */
  resume(): void {
    if (this.running) this.child!.kill("SIGCONT");
  }

  /** Starts the server again on the same ports and data after `downMs` (or starts it after a kill). */
  async restart(downMs = 0): Promise<void> {
    await this.kill("SIGTERM");
    if (downMs) await sleep(downMs);
    await this.launch();
  }

  async stop(): Promise<void> {
    await this.kill("SIGTERM");
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A port the kernel just handed out; closed again so the server can bind it. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => (port ? resolve(port) : reject(new Error("could not read the probe's port"))));
    });
  });
}
