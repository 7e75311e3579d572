import { setTimeout as sleep } from "node:timers/promises";
import { openClickHouse, type OpenClickHouse, type OpenClickHouseOptions } from "./client.ts";
import { AbortedError } from "../nats/deadline.ts";
import { classifyInsertFailure } from "./errors.ts";
import { appliedVersions, migrate, MigrationError, MIGRATIONS } from "./migrations.ts";
import { DATABASE } from "./schema.ts";

export interface WaitOptions {
  /** Ends the wait (Ctrl-C) with an AbortedError. */
  readonly signal?: AbortSignal;
  readonly log: { info(msg: string): void; warn(msg: string): void };
  readonly maxDelayMs?: number;
}

/** Who brings the schema up to date when a process opens a ClickHouse server (config `clickhouseAccess`). */
export interface SchemaPolicy {
  /**
   * `auto`: migrate before use, as `migrator` when given; `off`: only check that every migration
   * this sluice knows is recorded, waiting while one is being applied. The embedded engine has no
   * accounts and is always migrated by the process that owns it.
   */
  readonly migrate: "auto" | "off";
  /** The account migrations run as, when it is not the one the process opens with. */
  readonly migrator?: { readonly user?: string; readonly password?: string };
  /** How long a schema that is behind and not moving is waited for before {@link SchemaOutdatedError}. */
  readonly pendingMigrationMs?: number;
}

const DEFAULT_PENDING_MIGRATION_MS = 30_000;

/** The tables are older than this sluice, and nothing is migrating them: an operator must. */
export class SchemaOutdatedError extends Error {
  override name = "SchemaOutdatedError";
  readonly target: string;
  /** Migration versions this sluice knows that the server has not recorded. */
  readonly missing: readonly number[];
  constructor(target: string, missing: readonly number[], waitedMs: number) {
    super(
      `ClickHouse at ${target}: the ${DATABASE} tables lack ${missing.length} of this sluice's ${MIGRATIONS.length} migrations (versions ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", …" : ""}) ` +
        `and none was applied in the last ${Math.round(waitedMs / 1000)} s. This process does not migrate (CLICKHOUSE_MIGRATE=off): ` +
        `run \`sluice migrate\` with the migrations account (CLICKHOUSE_MIGRATIONS_USER / CLICKHOUSE_MIGRATIONS_PASSWORD), then start it again`,
    );
    this.target = target;
    this.missing = missing;
  }
}

/** A migration the opening account may not run: it is a least-privilege account, so migrating is someone else's job. */
export class MigrationAccessError extends Error {
  override name = "MigrationAccessError";
  readonly user: string;
  constructor(user: string, cause: MigrationError) {
    super(
      `ClickHouse account ${user} may not migrate (${cause.message}); set CLICKHOUSE_MIGRATIONS_USER / CLICKHOUSE_MIGRATIONS_PASSWORD to the migrations account, ` +
        "or set CLICKHOUSE_MIGRATE=off and run `sluice migrate` with that account before starting this process",
      { cause },
    );
    this.user = user;
  }
}

/** Server refusals of a statement for lack of rights: 18.16's profiles (allow_ddl, readonly) and RBAC's grants. */
const NO_RIGHT = /DDL queries are prohibited|readonly mode|Not enough privileges|ACCESS_DENIED|Access denied/i;

/**
 * Opens ClickHouse and makes sure its schema is this sluice's (migrating it or checking it, per
 * `schema`), waiting for a server that is down, overloaded or restarting — a sink process started
 * during an outage must wait it out like its inserts do, not exit. Only failures the insert
 * classifier calls transient are waited for; anything else (a data directory another process
 * holds, a server too old, a schema nobody migrates) is thrown at once. The wait is logged once.
 */
export async function openWhenReachable(opts: OpenClickHouseOptions, wait: WaitOptions, schema: SchemaPolicy = { migrate: "auto" }): Promise<OpenClickHouse> {
  const maxDelayMs = wait.maxDelayMs ?? 5_000;
  let waitingSince: number | undefined;
  for (let attempt = 0; ; attempt++) {
    let opened: OpenClickHouse | undefined;
    try {
      opened = await openClickHouse(opts);
      await ensureSchema(opened, opts, wait, schema);
      if (waitingSince !== undefined) wait.log.info(`ClickHouse at ${opened.target} reachable after ${((Date.now() - waitingSince) / 1000).toFixed(1)} s`);
      return opened;
    } catch (err) {
      await opened?.close().catch(() => undefined);
      if (wait.signal?.aborted) throw new AbortedError("waiting for ClickHouse");
      if (err instanceof SchemaOutdatedError || err instanceof MigrationAccessError || classifyInsertFailure(err).kind !== "transient") throw err;
      if (waitingSince === undefined) {
        waitingSince = Date.now();
        wait.log.warn(`waiting for ClickHouse (retrying): ${err instanceof Error ? err.message : String(err)}`);
      }
      await sleep(Math.min(maxDelayMs, 250 * 2 ** attempt), undefined, { signal: wait.signal }).catch(() => undefined);
      if (wait.signal?.aborted) throw new AbortedError("waiting for ClickHouse");
    }
  }
}

async function ensureSchema(opened: OpenClickHouse, opts: OpenClickHouseOptions, wait: WaitOptions, schema: SchemaPolicy): Promise<void> {
  if (opened.kind === "embedded") {
    await migrate(opened.client, opened.caps);
    return;
  }
  if (schema.migrate === "off") return awaitSchema(opened, wait, schema.pendingMigrationMs ?? DEFAULT_PENDING_MIGRATION_MS);
  const migrator = schema.migrator?.user !== undefined && schema.migrator.user !== opts.user ? schema.migrator : undefined;
  // The migrations account signs in for the migration only; the process then works as its own.
  const own = migrator ? await openClickHouse({ ...opts, user: migrator.user, password: migrator.password }) : opened;
  try {
    await migrate(own.client, own.caps);
  } catch (err) {
    if (err instanceof MigrationError && NO_RIGHT.test(err.message)) throw new MigrationAccessError(migrator?.user ?? opts.user ?? "default", err);
    throw err;
  } finally {
    if (own !== opened) await own.close();
  }
}

/** Versions this sluice knows that the server has not recorded; all of them before the first migration. */
async function missingMigrations(opened: OpenClickHouse): Promise<number[]> {
  let applied: Set<number>;
  try {
    applied = await appliedVersions(opened.client);
  } catch (err) {
    // No database or no migrations table yet (codes 81 and 60): nothing applied.
    if (/UNKNOWN_DATABASE|UNKNOWN_TABLE|Code: (81|60)\b|doesn't exist|does not exist/i.test(err instanceof Error ? err.message : String(err))) applied = new Set();
    else throw err;
  }
  return MIGRATIONS.map((m) => m.version).filter((v) => !applied.has(v));
}

/**
 * Waits until every migration is recorded. A migration in progress records its versions one by
 * one, so the wait goes on while the missing list shrinks and ends in {@link SchemaOutdatedError}
 * after `pendingMs` without progress.
 */
async function awaitSchema(opened: OpenClickHouse, wait: WaitOptions, pendingMs: number): Promise<void> {
  let missing = await missingMigrations(opened);
  if (missing.length === 0) return;
  wait.log.warn(`clickhouse: waiting for ${missing.length} migrations of ${DATABASE} at ${opened.target} (CLICKHOUSE_MIGRATE=off: \`sluice migrate\` applies them)`);
  let progressAt = Date.now();
  for (;;) {
    if (Date.now() - progressAt >= pendingMs) throw new SchemaOutdatedError(opened.target, missing, Date.now() - progressAt);
    await sleep(Math.min(500, pendingMs), undefined, { signal: wait.signal }).catch(() => undefined);
    if (wait.signal?.aborted) throw new AbortedError("waiting for ClickHouse migrations");
    const now = await missingMigrations(opened);
    if (now.length === 0) {
      wait.log.info(`clickhouse: ${DATABASE} at ${opened.target} is migrated`);
      return;
    }
    if (now.length < missing.length) progressAt = Date.now();
    missing = now;
  }
}
