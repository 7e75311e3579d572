import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { ClickHouseLogLevel, createClient, type ClickHouseClient, type ClickHouseClientConfigOptions, type ErrorLogParams, type Logger, type LogParams, type WarnLogParams } from "@clickhouse/client";
import { probeCapabilities, type Capabilities, type ClickHouseLogger } from "./capabilities.ts";
import { EmbeddedEngineBusyError, registerTarget, toClickHouseError } from "./errors.ts";
import { checkClusterName, clusterClientSettings, ClusterDdlError, CLUSTER_REQUEST_TIMEOUT_MS, registerCluster } from "./cluster.ts";
import { acquireDataDirLock } from "./lock.ts";
import { embeddedEngineArgs } from "./engine-settings.ts";

export interface OpenClickHouseOptions {
  /** HTTP(S) url of a ClickHouse server; without it, embedded chDB runs at `dataDir`. */
  url?: string;
  user?: string;
  password?: string;
  /** chDB's data directory (embedded only); one process at a time may use it. */
  dataDir: string;
  logger?: ClickHouseLogger;
  /** Per-request timeout against a server. */
  requestTimeoutMs?: number;
  /** The embedded engine's memory cap in MB (clickhouse/engine-settings.ts); default 1024. */
  engineMemoryMb?: number;
  /**
   * The server is a node of this `<remote_servers>` cluster (CLICKHOUSE_CLUSTER): migrations run
   * `ON CLUSTER`, and inserts into Distributed tables wait for the shards (clickhouse/cluster.ts).
   */
  cluster?: string;
  /** With `cluster`: an insert returns once this many replicas of its shard have it (ClickHouse's `insert_quorum`); 0 or absent: once one has. */
  insertQuorum?: number;
}

export interface OpenClickHouse {
  client: ClickHouseClient;
  kind: "embedded" | "server";
  caps: Capabilities;
  /** Where the data lives, for messages: the data dir or the url without credentials. */
  target: string;
  close(): Promise<void>;
}

const consoleLogger: ClickHouseLogger = {
  info: (message) => console.info(message),
  warn: (message) => console.warn(message),
};

/**
 * Opens ClickHouse: embedded chDB at `dataDir` when no url is given, else the server at
 * `url`. Probes the version, logs one line per missing feature, and returns the client
 * with its capabilities. The embedded data directory is locked to this process until `close()`.
 *
 * @example
 * const ch = await openClickHouse({ dataDir: ".sluice/chdb", logger });
 * await migrate(ch.client, ch.caps);
 * await ch.close();
 */
export async function openClickHouse(opts: OpenClickHouseOptions): Promise<OpenClickHouse> {
  const logger = opts.logger ?? consoleLogger;
  if (opts.cluster !== undefined) {
    checkClusterName(opts.cluster);
    if (!opts.url) throw new ClusterDdlError(opts.cluster, "the embedded engine is one process, not a cluster node: set CLICKHOUSE_URL to a node of the cluster, or unset CLICKHOUSE_CLUSTER");
  }
  return opts.url ? openServer(opts.url, opts, logger) : openEmbedded(resolve(opts.dataDir), logger, opts.engineMemoryMb);
}

/**
 * The client logs every failed request at ERROR on its own; the caller gets each of those
 * failures as a rejection anyway, so only the client's warnings (such as unread response
 * streams) pass on.
 */
function clientLog(logger: ClickHouseLogger): { LoggerClass: new () => Logger; level: ClickHouseLogLevel } {
  class Forward implements Logger {
    trace(_: LogParams): void {}
    debug(_: LogParams): void {}
    info(_: LogParams): void {}
    warn(params: WarnLogParams): void {
      logger.warn(`clickhouse client: ${params.message}${params.err ? `: ${params.err.message}` : ""}`);
    }
    error(_: ErrorLogParams): void {}
  }
  return { LoggerClass: Forward, level: ClickHouseLogLevel.WARN };
}

function redact(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err) {
    throw new Error(`ClickHouse url ${JSON.stringify(url)} is not a url: expected e.g. http://127.0.0.1:8123`, { cause: err });
  }
  parsed.username = "";
  parsed.password = "";
  return parsed.toString().replace(/\/$/, "");
}

async function openServer(url: string, opts: OpenClickHouseOptions, logger: ClickHouseLogger): Promise<OpenClickHouse> {
  const target = redact(url);
  const client = createClient({
    url,
    username: opts.user,
    password: opts.password,
    request_timeout: opts.requestTimeoutMs ?? (opts.cluster !== undefined ? CLUSTER_REQUEST_TIMEOUT_MS : undefined),
    log: clientLog(logger),
    ...(opts.cluster !== undefined ? { clickhouse_settings: clusterClientSettings(opts.insertQuorum ?? 0) } : {}),
  });
  registerTarget(client, target);
  if (opts.cluster !== undefined) registerCluster(client, opts.cluster);
  let caps: Capabilities;
  try {
    caps = await probeCapabilities(client, logger);
  } catch (err) {
    await client.close();
    throw toClickHouseError(err, "SELECT version()", target);
  }
  let closing: Promise<void> | undefined;
  return { client, kind: "server", caps, target, close: () => (closing ??= client.close()) };
}

async function openEmbedded(dataDir: string, logger: ClickHouseLogger, engineMemoryMb: number | undefined): Promise<OpenClickHouse> {
  // Loaded here so a server-only process never maps libchdb.
  const chdb = await import("chdb");
  const { createChdbConnection } = await import("chdb/connection");
  mkdirSync(dataDir, { recursive: true });
  const lock = acquireDataDirLock(dataDir);
  const releaseOnExit = () => lock.release();
  process.once("exit", releaseOnExit);
  let client: ClickHouseClient | undefined;
  // The first connection at a directory starts the engine, with its server settings; the client's
  // connection (which takes no engine arguments) joins that engine. Kept open until close().
  let engine: InstanceType<typeof chdb.Session> | undefined;
  const shutdown = async () => {
    try {
      await client?.close();
      engine?.close();
      // close() can return while the engine still finishes an operation; the directory is
      // only free for another process once that is done.
      await chdb.drainPending();
    } finally {
      process.removeListener("exit", releaseOnExit);
      lock.release();
    }
  };
  let caps: Capabilities;
  try {
    engine = new chdb.Session(dataDir, { connectionArgs: embeddedEngineArgs(engineMemoryMb) });
    // chdb types its connection against its own copy of @clickhouse/client-common; the shapes match.
    const connection = createChdbConnection({ path: dataDir }) as unknown as NonNullable<ClickHouseClientConfigOptions["connection"]>;
    client = createClient({ connection, log: clientLog(logger) });
    registerTarget(client, `chDB at ${dataDir}`);
    caps = await probeCapabilities(client, logger);
  } catch (err) {
    await shutdown();
    const message = err instanceof Error ? err.message : String(err);
    if (/one active data directory per process|still running/i.test(message)) throw new EmbeddedEngineBusyError(dataDir, message, { cause: err });
    throw toClickHouseError(err, "SELECT version()", `chDB at ${dataDir}`);
  }
  let closing: Promise<void> | undefined;
  return { client, kind: "embedded", caps, target: `chDB at ${dataDir}`, close: () => (closing ??= shutdown()) };
}
