import { join, resolve } from "node:path";
import { LakeUrlError, parseLakeUrl, type LakeLocation } from "../lake/location.ts";
import { DEFAULT_ENGINE_MEMORY_MB } from "../clickhouse/engine-settings.ts";
import { CLUSTER_NAME } from "../clickhouse/cluster.ts";
import { DEFAULT_HEAP_GROWING_PERCENT } from "../otel/memory.ts";

/**
 * Everything sluice reads from its environment, read once and frozen. No other module reads
 * `process.env`; entrypoints call {@link loadConfig} and pass the result down.
 *
 * @example
 * const config = loadConfig(process.env);
 * config.stateDir // "/home/me/project/.sluice"
 */
export interface Config {
  /** Existing NATS server(s); when absent `sluice up` starts a local nats-server. */
  readonly natsUrl: string | undefined;
  readonly natsUser: string | undefined;
  readonly natsPassword: string | undefined;
  /** NATS sign-in besides user/password (nats/connect.ts): a .creds file, an nkey seed (or a file holding it), a token. */
  readonly natsCreds: string | undefined;
  readonly natsNkey: string | undefined;
  readonly natsToken: string | undefined;
  /** TLS to NATS: CA to trust, and a client certificate and key when the server verifies clients. */
  readonly natsTls: { readonly ca?: string; readonly cert?: string; readonly key?: string } | undefined;
  /** Inbox prefix for replies (with NATS authorization each user subscribes to its own); set with NATS_NKEY/NATS_USER of a generated user. */
  readonly natsInboxPrefix: string | undefined;
  /** Where the generated NATS users' credentials are (`SLUICE_NATS_CREDENTIALS`, default `<state dir>/nats-credentials`). */
  readonly natsCredentialsDir: string;
  /** `SLUICE_NATS_AUTH=off`: `sluice up`'s nats-server runs without authorization (as before issue 11). */
  readonly natsAuth: boolean;
  /** ClickHouse over HTTP; when absent the embedded chDB engine is used. */
  readonly clickhouseUrl: string | undefined;
  readonly clickhouseUser: string | undefined;
  readonly clickhousePassword: string | undefined;
  /** Who migrates, and which server account each kind of process signs in as (clickhouse/open.ts). */
  readonly clickhouseAccess: ClickHouseAccess;
  /** `CLICKHOUSE_CLUSTER`: the server is a node of this `<remote_servers>` cluster; tables are replicated and distributed (clickhouse/cluster.ts). */
  readonly clickhouseCluster: string | undefined;
  /** `CLICKHOUSE_INSERT_QUORUM` (cluster only; 0: off): an insert returns only once this many replicas of its shard hold it. */
  readonly clickhouseInsertQuorum: number;
  readonly stateDir: string;
  /** OTLP/HTTP base endpoint, e.g. http://localhost:4318 (Jaeger all-in-one). */
  readonly otlpEndpoint: string | undefined;
  readonly apiPort: number;
  /** Interface the HTTP API binds: loopback unless an operator opens it (e.g. 0.0.0.0 in a container). */
  readonly apiHost: string;
  /** Number of keyed partitions in `events.<source>.<partition>`. */
  readonly partitions: number;
  /**
   * `SLUICE_REPLICAS` (1..5, default 1; 3 on a 3-node cluster): num_replicas of every stream, KV
   * bucket and object store sluice creates (subjects/replication.ts applies it; consumers inherit).
   */
  readonly replicas: number;
  /** Shards of the window actor's cross-partition group keys (site, merchant, topic): its group tasks per source. */
  readonly groupShards: number;
  /**
   * How long RAW keeps messages (hours; default 24); EVENTS, DLQ and AGG keep theirs per the
   * catalog. Short because RAW is the one stream that holds personal data in clear (pii/).
   */
  readonly rawMaxAgeHours: number;
  readonly logLevel: "debug" | "info" | "warn" | "error";
  /** Most rows per ClickHouse insert; a batch also goes out after `sinkBatchMs`. */
  readonly sinkBatchRows: number;
  readonly sinkBatchMs: number;
  /** Time between two scheduled refits of the hot forecasts (written to `sluice.forecasts`). */
  readonly forecastRefitMs: number;
  /** Longest a stop (Ctrl-C, SIGTERM) may take before the process reports what still runs and exits 1. */
  readonly shutdownTimeoutMs: number;
  /** How far an event time may lie ahead of its RAW stream timestamp before validate dead-letters it. */
  readonly maxFutureSkewMs: number;
  /** Whether validate carries many events in one EVENTS message (`SLUICE_EVENTS_BATCH`, subjects/event-batch.ts); on unless `off`. */
  readonly batchEvents: boolean;
  /** Jaeger's web UI, e.g. http://localhost:16686: the dashboard links each anomaly's trace there. */
  readonly jaegerUiUrl: string | undefined;
  /** Cron expression of the scheduled report (croner syntax), e.g. "0 6 * * *"; absent: no schedule. */
  readonly reportCron: string | undefined;
  /** Where OpenLineage run events go: a Marquez-compatible http(s) base URL, or file:///path/events.ndjson. */
  readonly openLineageUrl: string | undefined;
  /** Where the lake sinks write Parquet (`SLUICE_LAKE_URL`: a directory or s3://bucket/prefix; default `<state dir>/lake`). */
  readonly lake: LakeLocation;
  /**
   * A lake file is complete at the end of its hour, or at this many rows or uncompressed bytes.
   * The file being filled is part of the sink's checkpoint (every 5 s), hence the modest 8 MB
   * default; lake-compact then merges each hour into one file.
   */
  readonly lakeFileRows: number;
  readonly lakeFileBytes: number;
  /** Memory cap of the embedded engine, MB (`SLUICE_CHDB_MEMORY_MB`; its caches are sized in clickhouse/engine-settings.ts). */
  readonly chdbMemoryMb: number;
  /** How far the JS heap may grow past the live objects before V8 collects, percent (`SLUICE_HEAP_GROWING_PERCENT`, otel/memory.ts; 0: V8's own). */
  readonly heapGrowingPercent: number;
  /** Days the `retention` job keeps table partitions on servers without TTL, and lake files; undefined: forever. */
  readonly retentionDays: number | undefined;
  readonly lakeRetentionDays: number | undefined;
  /**
   * The PII keyring (pii/keyring.ts): `SLUICE_PII_KEYS` (the keyring document itself) wins over the
   * file at `SLUICE_KEYRING` (default `<state dir>/keys/keyring.json`, mode 0600).
   */
  readonly keyring: { readonly path: string; readonly inline: string | undefined };
  /** Per source, what an event without a reference entry does (`SLUICE_MISSING_REFERENCE=txn=dead_letter,iot=flag`); default flag. */
  readonly missingReference: Readonly<Record<string, "flag" | "dead_letter">>;
  /** `SLUICE_JETSTREAM_KEY` is set: the nats-server `sluice up` starts encrypts its store at rest (the key stays in the environment). */
  readonly jetstreamEncrypted: boolean;
  /** Who may call the HTTP API (api/auth.ts, api/guard.ts). */
  readonly apiSecurity: ApiSecurity;
}

/** `SLUICE_API_AUTH` (auto: tokens required once one exists; required: always), `SLUICE_API_METRICS_AUTH`, `SLUICE_API_CORS_ORIGINS`, `SLUICE_API_RATE`. */
export interface ApiSecurity {
  readonly auth: "auto" | "required";
  readonly metricsAuth: boolean;
  readonly corsOrigins: readonly string[];
  /** Requests per second per token (burst: twice that). */
  readonly ratePerSecond: number;
}

/** A ClickHouse server account; undefined fields fall back to CLICKHOUSE_USER / CLICKHOUSE_PASSWORD. */
export interface ClickHouseAccount {
  readonly user: string | undefined;
  readonly password: string | undefined;
}

/**
 * `CLICKHOUSE_MIGRATE` (auto: a process that opens the server migrates it first, as the
 * migrations account; off: it only checks the schema version, and `sluice migrate` migrates), and
 * one account per kind of process: `CLICKHOUSE_MIGRATIONS_USER/PASSWORD` (migrations, scheduled
 * jobs), `CLICKHOUSE_SINK_USER/PASSWORD` (actors' inserts, the API's forecast and audit rows),
 * `CLICKHOUSE_READER_USER/PASSWORD` (the API's and `sluice sql`'s reads). The embedded engine has
 * no accounts and is always migrated by the process that owns it.
 */
export interface ClickHouseAccess {
  readonly migrate: "auto" | "off";
  readonly migrations: ClickHouseAccount;
  readonly sink: ClickHouseAccount;
  readonly reader: ClickHouseAccount;
}

/** Five minutes: NTP-synced producers and batching clients stay well inside it. */
export const DEFAULT_MAX_FUTURE_SKEW_MS = 300_000;
/**
 * One group task per source unless SLUICE_GROUP_SHARDS says otherwise: every shard parses all of
 * its source's events, so on one instance each shard adds that cost; raise it to split a source's
 * group windows between window instances.
 */
export const DEFAULT_GROUP_SHARDS = 1;
/** Keyed partitions of `events.<source>.<partition>` unless SLUICE_PARTITIONS says otherwise. */
export const DEFAULT_PARTITIONS = 4;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name}=${JSON.stringify(raw)} is not valid: expected an integer from ${min} to ${max}`);
  }
  return value;
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = env[name];
  if (!raw) return undefined;
  for (const part of raw.split(",")) {
    let parsed: URL;
    try {
      parsed = new URL(part.trim());
    } catch {
      throw new ConfigError(`${name}=${JSON.stringify(raw)} is not a URL: expected e.g. ${protocols[0]}//localhost`);
    }
    if (!protocols.includes(parsed.protocol)) {
      throw new ConfigError(`${name}=${JSON.stringify(raw)} has protocol ${parsed.protocol}: expected one of ${protocols.join(" ")}`);
    }
  }
  return raw;
}

function host(env: Env, name: string, fallback: string): string {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^[A-Za-z0-9.:-]+$/.test(raw)) throw new ConfigError(`${name}=${JSON.stringify(raw)} is not a host name or address; e.g. ${name}=0.0.0.0`);
  return raw;
}

function natsAuthOn(env: Env): boolean {
  const raw = env.SLUICE_NATS_AUTH || "on";
  if (raw !== "on" && raw !== "off") throw new ConfigError(`SLUICE_NATS_AUTH=${JSON.stringify(raw)}: expected on or off`);
  return raw === "on";
}

const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

export function loadConfig(env: Env): Config {
  const logLevel = (env.SLUICE_LOG_LEVEL ?? "info") as Config["logLevel"];
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`SLUICE_LOG_LEVEL=${JSON.stringify(env.SLUICE_LOG_LEVEL)}: expected one of ${LOG_LEVELS.join(", ")}`);
  }
  return Object.freeze({
    natsUrl: url(env, "NATS_URL", ["nats:", "tls:", "ws:", "wss:"]),
    natsUser: env.NATS_USER || undefined,
    natsPassword: env.NATS_PASSWORD || undefined,
    natsCreds: env.NATS_CREDS || undefined,
    natsNkey: env.NATS_NKEY || undefined,
    natsToken: env.NATS_TOKEN || undefined,
    natsTls: env.NATS_TLS_CA || env.NATS_TLS_CERT || env.NATS_TLS_KEY ? { ca: env.NATS_TLS_CA || undefined, cert: env.NATS_TLS_CERT || undefined, key: env.NATS_TLS_KEY || undefined } : undefined,
    natsInboxPrefix: env.NATS_INBOX_PREFIX || undefined,
    natsCredentialsDir: resolve(env.SLUICE_NATS_CREDENTIALS || join(env.SLUICE_STATE_DIR || ".sluice", "nats-credentials")),
    natsAuth: natsAuthOn(env),
    clickhouseUrl: url(env, "CLICKHOUSE_URL", ["http:", "https:"]),
    clickhouseUser: env.CLICKHOUSE_USER || undefined,
    clickhousePassword: env.CLICKHOUSE_PASSWORD || undefined,
    clickhouseAccess: clickhouseAccess(env),
    clickhouseCluster: clickhouseCluster(env),
    clickhouseInsertQuorum: insertQuorum(env),
    stateDir: resolve(env.SLUICE_STATE_DIR || ".sluice"),
    otlpEndpoint: url(env, "OTEL_EXPORTER_OTLP_ENDPOINT", ["http:", "https:"]),
    apiPort: integer(env, "SLUICE_API_PORT", 8787, 0, 65535),
    apiHost: host(env, "SLUICE_API_HOST", "127.0.0.1"),
    partitions: integer(env, "SLUICE_PARTITIONS", DEFAULT_PARTITIONS, 1, 256),
    replicas: integer(env, "SLUICE_REPLICAS", 1, 1, 5),
    groupShards: integer(env, "SLUICE_GROUP_SHARDS", DEFAULT_GROUP_SHARDS, 1, 256),
    rawMaxAgeHours: integer(env, "SLUICE_RAW_MAX_AGE_HOURS", 24, 1, 24 * 365),
    logLevel,
    sinkBatchRows: integer(env, "SLUICE_SINK_BATCH_ROWS", 5_000, 1, 1_000_000),
    sinkBatchMs: integer(env, "SLUICE_SINK_BATCH_MS", 1_000, 10, 600_000),
    forecastRefitMs: integer(env, "SLUICE_FORECAST_REFIT_MS", 300_000, 1_000, 86_400_000),
    shutdownTimeoutMs: integer(env, "SLUICE_SHUTDOWN_TIMEOUT_MS", 8_000, 1_000, 600_000),
    maxFutureSkewMs: integer(env, "SLUICE_MAX_FUTURE_SKEW_MS", DEFAULT_MAX_FUTURE_SKEW_MS, 0, 30 * 86_400_000),
    batchEvents: onOff(env, "SLUICE_EVENTS_BATCH", "on"),
    lake: lakeLocation(env, resolve(env.SLUICE_STATE_DIR || ".sluice")),
    lakeFileRows: integer(env, "SLUICE_LAKE_FILE_ROWS", 1_000_000, 1, 100_000_000),
    lakeFileBytes: integer(env, "SLUICE_LAKE_FILE_MB", 8, 1, 1_024) * 1024 * 1024,
    chdbMemoryMb: integer(env, "SLUICE_CHDB_MEMORY_MB", DEFAULT_ENGINE_MEMORY_MB, 64, 1_048_576),
    heapGrowingPercent: integer(env, "SLUICE_HEAP_GROWING_PERCENT", DEFAULT_HEAP_GROWING_PERCENT, 0, 1_000),
    retentionDays: env.SLUICE_RETENTION_DAYS ? integer(env, "SLUICE_RETENTION_DAYS", 0, 1, 36_500) : undefined,
    lakeRetentionDays: env.SLUICE_LAKE_RETENTION_DAYS ? integer(env, "SLUICE_LAKE_RETENTION_DAYS", 0, 1, 36_500) : undefined,
    jaegerUiUrl: url(env, "JAEGER_UI_URL", ["http:", "https:"]),
    reportCron: env.SLUICE_REPORT_CRON || undefined,
    openLineageUrl: url(env, "OPENLINEAGE_URL", ["http:", "https:", "file:"]),
    apiSecurity: apiSecurity(env),
    missingReference: missingReference(env),
    jetstreamEncrypted: Boolean(env.SLUICE_JETSTREAM_KEY),
    keyring: { path: resolve(env.SLUICE_KEYRING || join(resolve(env.SLUICE_STATE_DIR || ".sluice"), "keys", "keyring.json")), inline: env.SLUICE_PII_KEYS || undefined },
  });
}

const CLICKHOUSE_ROLES = { migrations: "MIGRATIONS", sink: "SINK", reader: "READER" } as const;

function clickhouseAccess(env: Env): ClickHouseAccess {
  const migrate = env.CLICKHOUSE_MIGRATE || "auto";
  if (migrate !== "auto" && migrate !== "off") throw new ConfigError(`CLICKHOUSE_MIGRATE=${JSON.stringify(migrate)}: expected auto (a process migrates the server before using it) or off (run sluice migrate)`);
  const account = (role: keyof typeof CLICKHOUSE_ROLES): ClickHouseAccount => {
    const userVar = `CLICKHOUSE_${CLICKHOUSE_ROLES[role]}_USER`;
    const passwordVar = `CLICKHOUSE_${CLICKHOUSE_ROLES[role]}_PASSWORD`;
    if ((env[userVar] || env[passwordVar]) && !env.CLICKHOUSE_URL) throw new ConfigError(`${env[userVar] ? userVar : passwordVar} is set but CLICKHOUSE_URL is not: the embedded engine has no accounts; set CLICKHOUSE_URL to the server's http(s) url, or unset it`);
    if (env[passwordVar] && !env[userVar]) throw new ConfigError(`${passwordVar} is set without ${userVar}: name the account it is the password of`);
    // A role's own user comes with its own password (or none); only a role without one falls back.
    return env[userVar] ? { user: env[userVar], password: env[passwordVar] || undefined } : { user: env.CLICKHOUSE_USER || undefined, password: env.CLICKHOUSE_PASSWORD || undefined };
  };
  return Object.freeze({ migrate, migrations: account("migrations"), sink: account("sink"), reader: account("reader") });
}

function clickhouseCluster(env: Env): string | undefined {
  const cluster = env.CLICKHOUSE_CLUSTER || undefined;
  if (cluster === undefined) return undefined;
  if (!CLUSTER_NAME.test(cluster)) throw new ConfigError(`CLICKHOUSE_CLUSTER=${JSON.stringify(cluster)}: expected the name of a cluster in the servers' <remote_servers> (letters, digits, underscore)`);
  if (!env.CLICKHOUSE_URL) throw new ConfigError("CLICKHOUSE_CLUSTER is set but CLICKHOUSE_URL is not: the embedded engine is no cluster; set CLICKHOUSE_URL to one node of the cluster, or unset CLICKHOUSE_CLUSTER");
  return cluster;
}

function insertQuorum(env: Env): number {
  const quorum = integer(env, "CLICKHOUSE_INSERT_QUORUM", 0, 0, 64);
  if (quorum > 0 && !env.CLICKHOUSE_CLUSTER) throw new ConfigError("CLICKHOUSE_INSERT_QUORUM is set but CLICKHOUSE_CLUSTER is not: a quorum counts the replicas of a cluster's shard; set CLICKHOUSE_CLUSTER, or unset CLICKHOUSE_INSERT_QUORUM");
  return quorum;
}

function onOff(env: Env, name: string, fallback: "on" | "off"): boolean {
  const raw = env[name] || fallback;
  if (raw !== "on" && raw !== "off") throw new ConfigError(`${name}=${JSON.stringify(raw)}: expected on or off`);
  return raw === "on";
}

function apiSecurity(env: Env): ApiSecurity {
  const auth = env.SLUICE_API_AUTH || "auto";
  if (auth !== "auto" && auth !== "required") throw new ConfigError(`SLUICE_API_AUTH=${JSON.stringify(auth)}: expected auto or required`);
  const metrics = env.SLUICE_API_METRICS_AUTH || "off";
  if (metrics !== "on" && metrics !== "off") throw new ConfigError(`SLUICE_API_METRICS_AUTH=${JSON.stringify(metrics)}: expected on or off`);
  const corsOrigins = (env.SLUICE_API_CORS_ORIGINS ?? "").split(",").map((o) => o.trim()).filter(Boolean);
  for (const origin of corsOrigins) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin)) throw new ConfigError(`SLUICE_API_CORS_ORIGINS: ${JSON.stringify(origin)} is not an origin (scheme://host[:port], no path)`);
  }
  return Object.freeze({ auth, metricsAuth: metrics === "on", corsOrigins: Object.freeze(corsOrigins), ratePerSecond: integer(env, "SLUICE_API_RATE", 50, 1, 100_000) });
}

function missingReference(env: Env): Record<string, "flag" | "dead_letter"> {
  const out: Record<string, "flag" | "dead_letter"> = {};
  for (const part of (env.SLUICE_MISSING_REFERENCE ?? "").split(",").map((p) => p.trim()).filter(Boolean)) {
    const [source, action] = part.split("=").map((p) => p.trim());
    if (!source || (action !== "flag" && action !== "dead_letter")) throw new ConfigError(`SLUICE_MISSING_REFERENCE: ${JSON.stringify(part)} is not <source>=flag|dead_letter; e.g. txn=dead_letter,iot=flag`);
    out[source] = action;
  }
  return out;
}

function lakeLocation(env: Env, stateDir: string): LakeLocation {
  try {
    return parseLakeUrl(env.SLUICE_LAKE_URL || join(stateDir, "lake"), {
      endpoint: env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined,
      region: env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined,
      accessKeyId: env.AWS_ACCESS_KEY_ID || undefined,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY || undefined,
    });
  } catch (err) {
    if (err instanceof LakeUrlError) throw new ConfigError(`SLUICE_LAKE_URL: ${err.message}`);
    throw err;
  }
}

/** The embedded engine's data directory; its owner answers `sluice.rpc.sql` for it. */
export function embeddedDataDir(config: Pick<Config, "stateDir">): string {
  return join(config.stateDir, "clickhouse");
}
