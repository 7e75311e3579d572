import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "@nats-io/transport-node";
import type { SqlReply } from "../../clickhouse/sql-rpc.ts";
import { subject } from "../../subjects/catalog.ts";
import { withTestKeyring } from "./keyring.ts";
import { NatsServer } from "./nats-server.ts";
import { DEFAULT_PARTITIONS } from "../../config/index.ts";
import { ACTOR_NAMES, type ActorName } from "../../actors/pipeline.ts";

const BIN = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));
const SET_UP = fileURLToPath(new URL("./set-up-like-sluice-up.ts", import.meta.url));

/** `sluice <args>` as a child process, the way an operator runs it; output kept for failures. */
export class SluiceProcess {
  readonly child: ChildProcess;
  output = "";
  private constructor(child: ChildProcess) {
    this.child = child;
    child.stdout?.on("data", (d) => (this.output += d));
    child.stderr?.on("data", (d) => (this.output += d));
  }

  static start(args: string[], env: Record<string, string>): SluiceProcess {
    return new SluiceProcess(spawn(process.execPath, [BIN, ...args], { env: withTestKeyring({ ...process.env, ...withTestCredentials(args, env) }), stdio: ["ignore", "pipe", "pipe"] }));
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
 * own added to the server first (the server reloads its config while the process starts).
 */
function withTestCredentials(args: string[], env: Record<string, string>): Record<string, string> {
  const server = NatsServer.withTestAuth(env.NATS_URL ?? process.env.NATS_URL);
  if (!server?.credentialsDir || env.SLUICE_NATS_CREDENTIALS) return env;
  if (args[0] === "actor") {
    const actors = args.slice(1).filter((a): a is ActorName => (ACTOR_NAMES as readonly string[]).includes(a));
    const partitions = Number(env.SLUICE_PARTITIONS ?? process.env.SLUICE_PARTITIONS) || DEFAULT_PARTITIONS;
    if (actors.length) server.addProcessUser(actors, partitions);
    if (!server.setUp) {
      // As `sluice up` does as admin before its actors start: their users may not create streams.
      const r = spawnSync(process.execPath, ["--import", "tsx", SET_UP, server.url], { env: withTestKeyring({ ...process.env, ...env }), encoding: "utf8", timeout: 60_000 });
      if (r.status === 0) server.setUp = true;
      // Server down (the test starts it later): set up when it comes back; anything else the actor reports itself.
      else if (!server.alive) server.pendingSetUp = env;
    }
  }
  return { SLUICE_NATS_CREDENTIALS: server.credentialsDir, ...env };
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
