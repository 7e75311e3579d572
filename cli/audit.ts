import { embeddedDataDir, type Config } from "../config/index.ts";
import type { AuditEntry } from "../auth/audit.ts";
import { insertAudit } from "../clickhouse/audit.ts";
import { openClickHouse } from "../clickhouse/client.ts";
import { migrate } from "../clickhouse/migrations.ts";
import { askAudit, NoSqlOwnerError } from "../clickhouse/sql-rpc.ts";
import { connectNats } from "../nats/connect.ts";
import { readLocalNatsUrl } from "./state.ts";

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
    const ch = await openClickHouse({
      url: config.clickhouseUrl,
      user: config.clickhouseUser,
      password: config.clickhousePassword,
      dataDir: embeddedDataDir(config),
      logger: { info: () => undefined, warn: (m) => console.error(m) },
    });
    try {
      // The embedded engine may never have been migrated (no pipeline has run in this state dir yet).
      if (ch.kind === "embedded") await migrate(ch.client, ch.caps);
      await insertAudit(ch.client, entry);
    } finally {
      await ch.close();
    }
  } catch (err) {
    console.error(`warning: ${entry.action} ${entry.target} was not recorded in sluice.audit: ${(err as Error).message}`);
  }
}
