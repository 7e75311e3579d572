import { existsSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import { embeddedDataDir, type Config } from "../config/index.ts";
import type { AuditEntry } from "../auth/audit.ts";
import { insertAudit } from "../clickhouse/audit.ts";
import { migrate } from "../clickhouse/migrations.ts";
import { askAudit, NoSqlOwnerError } from "../clickhouse/sql-rpc.ts";
import { connectNats } from "../nats/connect.ts";
import { readLocalNatsUrl } from "./state.ts";
import { openConfiguredClickHouse } from "./sql.ts";

/** Who ran the command, for token records and the audit trail: user@host. */
export function cliUser(): string {
  let user = "unknown";
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (a container's arbitrary uid): the host still says where.
  }
  return `${user}@${hostname()}`;
}

/** Ids as an audit target, cut to what an entry holds. */
export function idsTarget(kind: string, ids: readonly (number | string)[]): string {
  const text = `${kind}:${ids.join(",")}`;
  return text.length <= 200 ? text : `${text.slice(0, 190)}…(${ids.length})`;
}

/**
 * Stores a CLI action in sluice.audit where it can, as `sluice sql` reads: through the process
 * that owns the embedded engine (over NATS), else the engine or the server itself. A failure is
 * reported, not thrown: the action has happened, and saying it went unrecorded is the honest end.
 */
export async function recordAudit(config: Config, entry: AuditEntry): Promise<void> {
  try {
    if (!config.clickhouseUrl) {
      const natsUrl = config.natsUrl ?? readLocalNatsUrl(config.stateDir);
      const nc = natsUrl ? await connectNats(natsUrl, config, "sluice:audit", { wait: false, dialTimeoutMs: 1_000 }).catch(() => undefined) : undefined;
      if (nc) {
        try {
          await askAudit(nc, entry, embeddedDataDir(config), 10_000);
          return;
        } catch (err) {
          if (!(err instanceof NoSqlOwnerError)) throw err;
        } finally {
          await nc.close();
        }
      }
    }
    if (!config.clickhouseUrl && !existsSync(embeddedDataDir(config))) {
      // Nothing has stored data here yet: creating an engine just for this row would leave one behind.
      throw new Error(`no ClickHouse data in ${embeddedDataDir(config)} and no process serving it on NATS`);
    }
    const ch = await openConfiguredClickHouse(config, "sink");
    try {
      // An engine a pipeline last used before the audit migration.
      if (ch.kind === "embedded") await migrate(ch.client, ch.caps);
      await insertAudit(ch.client, entry);
    } finally {
      await ch.close();
    }
  } catch (err) {
    console.error(`warning: ${entry.action} ${entry.target} was not recorded in sluice.audit: ${(err as Error).message}`);
  }
}
