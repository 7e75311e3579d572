import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "@nats-io/transport-node";
import type { SqlReply } from "../../clickhouse/sql-rpc.ts";
import { subject } from "../../subjects/catalog.ts";
import { withTestKeyring } from "./keyring.ts";

const BIN = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));

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
    return new SluiceProcess(spawn(process.execPath, [BIN, ...args], { env: withTestKeyring({ ...process.env, ...env }), stdio: ["ignore", "pipe", "pipe"] }));
  }

  async kill(signal: NodeJS.Signals): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    const exited = new Promise<number | null>((resolve) => this.child.once("exit", (code) => resolve(code)));
    this.child.kill(signal);
    return exited;
  }
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
