import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, nkeyAuthenticator } from "@nats-io/transport-node";
import type { ActorName } from "../../actors/pipeline.ts";
import { processUserName, readNatsUser } from "../../auth/nats-users.ts";
import { testNatsAuthOn, TestNatsUsers, TEST_NO_AUTH_USER } from "./test-nats-auth.ts";

/**
 * A real nats-server with JetStream for one test file: free port, its own store dir,
 * killed by `stop()`. `restart()` keeps the port and the store, as a broker restart would.
 *
 * @example
 * const nats = await NatsServer.start();
 * const nc = await connect({ servers: nats.url });
 * await nats.stop();
 */
function parsePorts(text: string): { nats: string[]; monitoring?: string[] } | undefined {
  try {
    const ports = JSON.parse(text) as { nats?: string[]; monitoring?: string[] };
    return Array.isArray(ports.nats) && ports.nats.length > 0 ? { nats: ports.nats, monitoring: ports.monitoring } : undefined;
  } catch {
    return undefined;
  }
}

export class NatsServer {
  readonly dir: string;
  port = 0;
  private child?: ChildProcess;
  /** nats-server `authorization` (and `tls`) config text, included on every (re)start; none: anyone may do anything. */
  private authorization?: string;
  /** Under SLUICE_TEST_NATS_AUTH=on (and no `authorization` of the test's own): the generated users, and the probe user anonymous connections act as. */
  private testUsers?: TestNatsUsers;
  /** The monitoring endpoint (`/connz`), when the server has one (SLUICE_TEST_NATS_AUTH=on). */
  monitoringUrl?: string;
  /** Streams and shipped schemas are there, set up as `sluice up` does as admin (SLUICE_TEST_NATS_AUTH=on). */
  setUp = false;
  /** A `sluice actor` process was started while the server was down: set up on the next (re)start, with this environment. */
  pendingSetUp?: Record<string, string>;
  /** Running servers by client port: a pipeline or `sluice` process the harness starts finds its server's credentials here. */
  private static readonly running = new Map<number, NatsServer>();

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** The server's process id, e.g. to SIGSTOP it (a server that accepts connections and answers nothing). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Whether the server process is running (not killed, not exited). */
  get alive(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Config lines of a cluster node (server_name, cluster block: tests/harness/nats-cluster.ts), on every (re)start. */
  private nodeConfig: readonly string[] = [];
  /** Extra settings in the `jetstream` block, e.g. `sync_interval: always` (a server from 2.10). */
  private jetstreamConfig: readonly string[] = [];

  /**
   * `authorization`: config text such as auth/nats-users.ts's natsAuthorizationConfig writes.
   * `users`: the generated users shared by the nodes of a cluster (each node's secrets must be the same);
   * `nodeConfig`: extra config lines, with a monitoring port.
   */
  static async start(opts: { maxPayload?: number; authorization?: string; users?: TestNatsUsers; nodeConfig?: readonly string[]; jetstream?: readonly string[] } = {}): Promise<NatsServer> {
    const server = new NatsServer(mkdtempSync(join(tmpdir(), "sluice-nats-")));
    server.authorization = opts.authorization;
    if (!opts.authorization && testNatsAuthOn()) server.testUsers = opts.users ?? new TestNatsUsers();
    server.nodeConfig = opts.nodeConfig ?? [];
    server.jetstreamConfig = opts.jetstream ?? [];
    server.writeConfig(-1, opts.maxPayload);
    await server.launch();
    NatsServer.running.set(server.port, server);
    return server;
  }

  /** The harness server at `url` (any of a comma-separated list), if it runs with the test authorization. */
  static withTestAuth(url: string | undefined): NatsServer | undefined {
    for (const one of (url ?? "").split(",")) {
      const port = Number(/:(\d+)\/?$/.exec(one.trim())?.[1]);
      const server = NatsServer.running.get(port);
      if (server?.testUsers) return server;
    }
    return undefined;
  }

  /** Where this server's generated credentials are (SLUICE_NATS_CREDENTIALS), when it runs with the test authorization. */
  get credentialsDir(): string | undefined {
    return this.testUsers?.credentialsDir;
  }

  /** Adds the user of a process running `actors` and tells the server to reload (SIGHUP) without waiting; false when it had one already. */
  addProcessUser(actors: readonly ActorName[], partitions: number): boolean {
    const users = this.testUsers;
    if (!users || users.has(actors, partitions)) return false;
    users.addProcess(actors, partitions);
    this.writeConfig(this.port);
    this.child?.kill("SIGHUP");
    return true;
  }

  /** Writes the config again (users added to shared {@link TestNatsUsers}) and tells the server to reload it. */
  reloadConfig(): void {
    this.writeConfig(this.port);
    this.child?.kill("SIGHUP");
  }

  /**
   * Makes sure a process running `actors` has its own user on this server (a subset of actors a
   * test starts has none among the standard ones): adds it, reloads the server's config (SIGHUP)
   * and waits until the user can sign in.
   */
  async ensureProcessUser(actors: readonly ActorName[], partitions: number): Promise<void> {
    if (!this.addProcessUser(actors, partitions)) return;
    await this.waitForSignIn(actors);
  }

  /** Waits (up to 15 s) until the user of a process running `actors` can sign in, after a config reload. */
  async waitForSignIn(actors: readonly ActorName[]): Promise<void> {
    const stored = readNatsUser(this.testUsers!.credentialsDir, processUserName(actors))!;
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        const nc = await connect({ servers: this.url, authenticator: nkeyAuthenticator(new TextEncoder().encode(stored.nkey_seed)), timeout: 2_000, reconnect: false });
        await nc.close();
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`nats-server did not accept the new user ${stored.user} within 15 s of a config reload: ${(err as Error).message}`);
        await sleep(100);
      }
    }
  }

  /**
   * Connections named like a sluice client (`sluice:…`) that signed in as the test probe user
   * rather than a generated one: an actor or command that found no credentials of its own.
   */
  /** Every connection with the user it signed in as, open and closed (the server keeps the last closed ones). */
  async connections(): Promise<Array<{ name: string; user: string }>> {
    if (!this.monitoringUrl) throw new Error("this nats-server has no monitoring endpoint (SLUICE_TEST_NATS_AUTH=on gives it one)");
    const res = await fetch(`${this.monitoringUrl}/connz?auth=1&state=all&limit=100000`);
    const body = (await res.json()) as { connections?: Array<{ name?: string; authorized_user?: string }> };
    return (body.connections ?? []).map((c) => ({ name: c.name ?? "", user: this.testUsers?.nameOf(c.authorized_user ?? "") ?? c.authorized_user ?? "" }));
  }

  /**
   * Connections named like a sluice client (`sluice:…`) that signed in as the test probe user
   * rather than a generated one: an actor or command that found no credentials of its own.
   */
  async sluiceClientsAsProbe(): Promise<Array<{ name: string; user: string }>> {
    if (!this.monitoringUrl) return [];
    return (await this.connections()).filter((c) => c.name.startsWith("sluice:") && c.user === TEST_NO_AUTH_USER);
  }

  private writeConfig(port: number, maxPayload?: number): void {
    const lines = [
      `port: ${port}`,
      `host: 127.0.0.1`,
      `ports_file_dir: "${this.dir}"`,
      `jetstream { store_dir: "${join(this.dir, "store")}"${this.jetstreamConfig.map((l) => `, ${l}`).join("")} }`,
    ];
    if (maxPayload) lines.push(`max_payload: ${maxPayload}`);
    const authorization = this.testUsers?.configText() ?? this.authorization;
    if (authorization) {
      writeFileSync(join(this.dir, "auth.conf"), authorization);
      lines.push(`include "auth.conf"`);
    }
    if (this.testUsers || this.nodeConfig.length) lines.push("http_port: -1");
    lines.push(...this.nodeConfig);
    writeFileSync(join(this.dir, "server.conf"), lines.join("\n") + "\n");
  }

  private async launch(): Promise<void> {
    for (const f of readdirSync(this.dir)) if (f.endsWith(".ports")) rmSync(join(this.dir, f));
    // SLUICE_TEST_NATS_SERVER: another nats-server binary (e.g. a newer one unpacked beside the Debian one).
    const child = spawn(process.env.SLUICE_TEST_NATS_SERVER || "nats-server", ["-c", join(this.dir, "server.conf")], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    child.stderr!.on("data", (d) => (log += d));
    this.child = child;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`nats-server exited early:\n${log}`);
      const portsFile = readdirSync(this.dir).find((f) => f.endsWith(".ports"));
      if (portsFile) {
        // The server may not have finished writing it: an empty or cut file is read again.
        const ports = parsePorts(readFileSync(join(this.dir, portsFile), "utf8"));
        if (ports) {
          this.port = Number(new URL(ports.nats[0]).port);
          this.monitoringUrl = ports.monitoring?.[0]?.replace("0.0.0.0", "127.0.0.1");
          return;
        }
      }
      await sleep(25);
    }
    throw new Error(`nats-server did not write its ports file in 10 s:\n${log}`);
  }

  async restart(downMs = 0): Promise<void> {
    await this.kill("SIGTERM");
    if (downMs) await sleep(downMs);
    this.writeConfig(this.port);
    await this.launch();
    const pending = this.pendingSetUp;
    if (pending) {
      this.pendingSetUp = undefined;
      const { setUpLikeSluiceUp } = await import("./nats-auth.ts");
      const { loadConfig } = await import("../../config/index.ts");
      const probe = await connect({ servers: this.url });
      try {
        await setUpLikeSluiceUp(probe, loadConfig({ ...process.env, ...pending }));
        this.setUp = true;
      } finally {
        await probe.close();
      }
    }
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.child;
    // A process ended by a signal has exitCode null: without the signalCode check a second kill
    // (restart after a SIGKILL) would wait for an exit that already happened.
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill(signal);
    await exited;
  }

  async stop(): Promise<void> {
    const asProbe = await this.sluiceClientsAsProbe().catch(() => []);
    if (asProbe.length) process.stderr.write(`[harness] sluice clients that signed in as the test probe user, not a generated one: ${[...new Set(asProbe.map((c) => c.name))].join(", ")}\n`);
    await this.kill("SIGTERM");
    NatsServer.running.delete(this.port);
    this.testUsers?.remove();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
