import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { SqlReply } from "../../clickhouse/sql-rpc.ts";
import { subject } from "../../subjects/catalog.ts";
import { withDeadline } from "../../nats/deadline.ts";
import { withTestKeyring } from "./keyring.ts";
import { NatsServer } from "./nats-server.ts";
import { setUpLikeSluiceUp } from "./nats-auth.ts";
import { DEFAULT_PARTITIONS, loadConfig } from "../../config/index.ts";
import { ACTOR_NAMES, type ActorName } from "../../actors/pipeline.ts";

const BIN = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));
/**
 * Runs the command in its arguments once its stdin closes. `exec` keeps the shell's process id, so
 * the test's signals (SIGKILL, SIGSTOP) reach the sluice process itself; closed early, the shell
 * just ends, as a process killed before it started would.
 */
const AFTER_STDIN_CLOSES = 'read -r _; exec "$0" "$@"';

/** `sluice <args>` as a child process, the way an operator runs it; output kept for failures. */
export class SluiceProcess {
  readonly child: ChildProcess;
  output = "";
  private constructor(child: ChildProcess) {
    this.child = child;
    child.stdout?.on("data", (d) => (this.output += d));
    child.stderr?.on("data", (d) => (this.output += d));
  }

  /**
   * Starts it at once; a `sluice actor` process on a harness server not yet set up as admin waits
   * for that set-up (run in this process, without blocking it) before the command runs.
   */
  static start(args: string[], env: Record<string, string>): SluiceProcess {
    const { env: signedIn, setUp } = withTestCredentials(args, env);
    const childEnv = withTestKeyring({ ...process.env, ...signedIn });
    if (!setUp) return new SluiceProcess(spawn(process.execPath, [BIN, ...args], { env: childEnv, stdio: ["ignore", "pipe", "pipe"] }));
    const child = spawn("/bin/sh", ["-c", AFTER_STDIN_CLOSES, process.execPath, BIN, ...args], { env: childEnv, stdio: ["pipe", "pipe", "pipe"] });
    // A child killed before the set-up ends has no reader left on the pipe: nothing to report.
    child.stdin!.on("error", () => undefined);
    void setUp.finally(() => child.stdin!.end());
    return new SluiceProcess(child);
  }

  async kill(signal: NodeJS.Signals): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    const exited = new Promise<number | null>((resolve) => this.child.once("exit", (code) => resolve(code)));
    this.child.kill(signal);
    return exited;
  }
}

/**
 * Under SLUICE_TEST_NATS_AUTH=on, `env` with the credentials of the harness server at its
 * NATS_URL, so the process signs in as its generated user; `sluice actor a b` gets a user of its
 * own added to the server first (the server reloads its config while the process starts), and
 * `setUp` when the server's streams and schemas are still to be set up before it may run.
 */
function withTestCredentials(args: string[], env: Record<string, string>): { env: Record<string, string>; setUp?: Promise<void> } {
  const server = NatsServer.withTestAuth(env.NATS_URL ?? process.env.NATS_URL);
  if (!server?.credentialsDir || env.SLUICE_NATS_CREDENTIALS) return { env };
  let setUp: Promise<void> | undefined;
  if (args[0] === "actor") {
    const actors = args.slice(1).filter((a): a is ActorName => (ACTOR_NAMES as readonly string[]).includes(a));
    const partitions = Number(env.SLUICE_PARTITIONS ?? process.env.SLUICE_PARTITIONS) || DEFAULT_PARTITIONS;
    if (actors.length) server.addProcessUser(actors, partitions);
    if (!server.setUp) setUp = setUpOnce(server, env);
  }
  return { env: { SLUICE_NATS_CREDENTIALS: server.credentialsDir, ...env }, setUp };
}

/** Set-ups in progress, so processes started together wait for one instead of each running its own. */
const settingUp = new WeakMap<NatsServer, Promise<void>>();

/**
 * As `sluice up` does as admin before its actors start (their users may not create streams): the
 * streams and shipped schemas for the process's configuration. Never rejects: with the server
 * down (the test starts it later) it is done when the server comes back; any other failure the
 * actor reports itself.
 */
function setUpOnce(server: NatsServer, env: Record<string, string>): Promise<void> {
  const running = settingUp.get(server);
  if (running) return running;
  const done = (async () => {
    try {
      // No credentials: the harness server maps this connection to its test probe user.
      const nc = await connect({ servers: server.url, timeout: 5_000, reconnect: false });
      try {
        await withDeadline(setUpLikeSluiceUp(nc, loadConfig(withTestKeyring({ ...process.env, ...env }))), { what: "streams and schemas set up as sluice up does", timeoutMs: 60_000 });
        server.setUp = true;
      } finally {
        await nc.close();
      }
    } catch {
      if (!server.alive) server.pendingSetUp = env;
    } finally {
      settingUp.delete(server);
    }
  })();
  settingUp.set(server, done);
  return done;
}

/** Runs SQL through the process that owns the embedded ClickHouse (`sluice.rpc.sql`). */
export async function sqlOverNats(nc: NatsConnection, query: string): Promise<unknown[][]> {
  const reply = await nc.request(subject.sqlService(), JSON.stringify({ query }), { timeout: 10_000 });
  const answer = JSON.parse(new TextDecoder().decode(reply.data)) as SqlReply;
  if (!answer.ok) throw new Error(answer.error);
  return answer.rows;
}

export async function scalarOverNats(nc: NatsConnection, query: string): Promise<number> {
  const rows = await sqlOverNats(nc, query);
  return Number(rows[0]?.[0] ?? 0);
}
