import { createHash } from "node:crypto";
import { existsSync, realpathSync } from "node:fs";
import { hostname } from "node:os";
import { resolve } from "node:path";
import type { ClickHouseClient } from "@clickhouse/client";
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import type { QueryColumn } from "./format.ts";
import { runQuery } from "./query.ts";
import { cutToLimit, readOnlyStatement, ReadOnlyRefusal, withReadLimits, type ReadOnlyReason } from "./readonly.ts";
import { countDenial } from "../auth/denials.ts";
import { isAuditEntry, type AuditEntry } from "../auth/audit.ts";
import { insertAudit } from "./audit.ts";
import { subject } from "../subjects/catalog.ts";
import { INSTANCE_ID } from "../nats/connect.ts";
import type { Logger } from "../otel/log.ts";

/** Request on `sluice.rpc.sql`. */
export interface SqlRequest {
  readonly query: string;
  /** The embedded data directory the client means (its `SLUICE_STATE_DIR/clickhouse`); absent: any owner. */
  readonly data_dir?: string;
  /** The host that directory is on; with `data_dir`. */
  readonly host?: string;
}

/** Who answered: a reply is only meaningful for the directory it came from. */
export interface SqlOwner {
  readonly data_dir: string;
  readonly host: string;
  readonly instance: string;
}

/** Reply: the result, or the error text that tells the user what to fix; always naming its owner. */
export type SqlReply =
  | ({ readonly ok: true; readonly columns: QueryColumn[]; readonly rows: unknown[][]; /** More rows matched than the reply carries (READ_LIMITS). */ readonly truncated?: boolean } & Partial<SqlOwner>)
  | ({ readonly ok: false; readonly error: string; /** Set when the statement was refused as not read-only. */ readonly denied?: ReadOnlyReason } & Partial<SqlOwner>);

/** The same directory however it was spelled (relative, through a symlink), on this host. */
function canonical(dataDir: string): string {
  const absolute = resolve(dataDir);
  return existsSync(absolute) ? realpathSync(absolute) : absolute;
}

/**
 * The subject only the owner of `dataDir` on `host` listens on: a client asking there gets that
 * owner or, at once, no responders — never another directory's rows. `sluice.rpc.sql` itself
 * stays for clients that do not say which directory they mean.
 */
export function sqlSubjectFor(dataDir: string, host = hostname()): string {
  return `${subject.sqlService()}.${ownerId(dataDir, host)}`;
}

/** Where the owner of `dataDir` on `host` stores audit entries sent by processes that cannot open it. */
export function auditSubjectFor(dataDir: string, host = hostname()): string {
  return `${subject.auditService()}.${ownerId(dataDir, host)}`;
}

function ownerId(dataDir: string, host: string): string {
  return createHash("sha256").update(`${host}\0${canonical(dataDir)}`).digest("hex").slice(0, 16);
}

/**
 * The embedded engine can be opened by one process only, so that process answers SQL for the
 * others over NATS request/reply, on `sluice.rpc.sql` and on its directory's own subject
 * ({@link sqlSubjectFor}). A request that names another directory is refused, never answered
 * with this one's data. Only reads are answered ({@link readOnlyStatement}), each within the
 * limits of {@link withReadLimits}; a refusal is counted as `sluice_denied_total{surface="sql_rpc"}`.
 * The same owner stores audit entries sent to {@link auditSubjectFor} (see {@link askAudit}).
 */
export function serveSql(nc: NatsConnection, client: ClickHouseClient, opts: { dataDir: string; log: Logger }): { stop(): Promise<void> } {
  const owner: SqlOwner = { data_dir: canonical(opts.dataDir), host: hostname(), instance: INSTANCE_ID };
  const answer = (err: Error | null, msg: Msg) => {
    if (err) return opts.log.warn(`sql rpc: ${err.message}`);
    void (async () => {
      let reply: SqlReply;
      try {
        const request = JSON.parse(new TextDecoder().decode(msg.data)) as SqlRequest;
        if (typeof request.query !== "string" || !request.query.trim()) throw new Error('request must be {"query": "<SQL>"}');
        const asked = request.data_dir === undefined ? undefined : { dataDir: canonical(request.data_dir), host: request.host ?? owner.host };
        if (asked && (asked.dataDir !== owner.data_dir || asked.host !== owner.host)) {
          throw new Error(`this process (instance ${owner.instance}) owns ${owner.data_dir} on ${owner.host}, not ${asked.dataDir} on ${asked.host}; ask on ${sqlSubjectFor(asked.dataDir, asked.host)}`);
        }
        // "json": the text is not sent, and the table renderer does not take 100k rows.
        const result = await runQuery(client, withReadLimits(readOnlyStatement(request.query)), "json");
        const { rows, truncated } = cutToLimit(result.rows);
        reply = { ok: true, columns: result.columns, rows, ...(truncated ? { truncated } : {}), ...owner };
      } catch (e) {
        if (e instanceof ReadOnlyRefusal) {
          countDenial("sql_rpc", e.reason);
          opts.log.warn(`sql rpc: refused ${e.got || "an empty query"} (${e.reason})`);
          reply = { ok: false, error: e.message, denied: e.reason, ...owner };
        } else reply = { ok: false, error: (e as Error).message, ...owner };
      }
      msg.respond(JSON.stringify(reply));
    })();
  };
  // The one write it takes over NATS: an audit entry of fixed shape into sluice.audit, never SQL.
  const audit = (err: Error | null, msg: Msg) => {
    if (err) return opts.log.warn(`audit rpc: ${err.message}`);
    void (async () => {
      let reply: { ok: true } | { ok: false; error: string };
      try {
        const entry: unknown = JSON.parse(new TextDecoder().decode(msg.data));
        if (!isAuditEntry(entry)) throw new Error("not an audit entry (auth/audit.ts AuditEntry)");
        await insertAudit(client, entry);
        reply = { ok: true };
      } catch (e) {
        reply = { ok: false, error: (e as Error).message };
      }
      msg.respond(JSON.stringify(reply));
    })();
  };
  const subs = [
    nc.subscribe(subject.sqlService(), { queue: "sql", callback: answer }),
    nc.subscribe(sqlSubjectFor(owner.data_dir), { callback: answer }),
    nc.subscribe(auditSubjectFor(owner.data_dir), { callback: audit }),
  ];
  return {
    async stop() {
      for (const sub of subs) sub.unsubscribe();
    },
  };
}

/** No process owns that directory on this NATS. */
export class NoSqlOwnerError extends Error {
  constructor(dataDir: string) {
    super(`no process on NATS owns the ClickHouse data in ${dataDir}`);
    this.name = "NoSqlOwnerError";
  }
}

/**
 * Asks the owner of `dataDir` (on this host) for `query`. Throws {@link NoSqlOwnerError} when
 * nobody owns it, the owner's error when the query failed, and refuses a reply from any other
 * directory.
 */
export async function askSql(nc: NatsConnection, query: string, dataDir: string, timeoutMs: number): Promise<{ columns: QueryColumn[]; rows: unknown[][]; truncated: boolean }> {
  const wanted = canonical(dataDir);
  const request: SqlRequest = { query, data_dir: wanted, host: hostname() };
  const msg = await nc.request(sqlSubjectFor(wanted), JSON.stringify(request), { timeout: timeoutMs }).catch((err: Error) => {
    if (/no responders|503/i.test(err.message)) throw new NoSqlOwnerError(wanted);
    throw err;
  });
  const reply = JSON.parse(new TextDecoder().decode(msg.data)) as SqlReply;
  if (reply.data_dir !== wanted || reply.host !== request.host) {
    throw new Error(`sql rpc: the reply came from ${reply.data_dir ?? "an unnamed data directory"} on ${reply.host ?? "an unnamed host"} (instance ${reply.instance ?? "?"}), expected ${wanted}; refusing it`);
  }
  if (!reply.ok) throw new Error(reply.error);
  return { columns: reply.columns, rows: reply.rows, truncated: reply.truncated === true };
}

/** Has the owner of `dataDir` store `entry` in sluice.audit; throws {@link NoSqlOwnerError} when nobody owns it. */
export async function askAudit(nc: NatsConnection, entry: AuditEntry, dataDir: string, timeoutMs: number): Promise<void> {
  const wanted = canonical(dataDir);
  const msg = await nc.request(auditSubjectFor(wanted), JSON.stringify(entry), { timeout: timeoutMs }).catch((err: Error) => {
    if (/no responders|503/i.test(err.message)) throw new NoSqlOwnerError(wanted);
    throw err;
  });
  const reply = JSON.parse(new TextDecoder().decode(msg.data)) as { ok: boolean; error?: string };
  if (!reply.ok) throw new Error(`audit not stored: ${reply.error}`);
}
