import type { ClickHouseClient } from "@clickhouse/client";
import type { AuditEntry } from "../auth/audit.ts";
import { AUDIT_TABLE } from "./schema.ts";

/** Inserts one audit entry; `at` as DateTime text, which 18.16 and chDB both parse. */
export async function insertAudit(client: ClickHouseClient, entry: AuditEntry): Promise<void> {
  const at = new Date(entry.at).toISOString().slice(0, 19).replace("T", " ");
  await client.insert({ table: AUDIT_TABLE, values: [{ ...entry, at }], format: "JSONEachRow" });
}
