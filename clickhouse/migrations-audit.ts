import type { Capabilities } from "./capabilities.ts";
import { AUDIT_TABLE, columnTypes } from "./schema.ts";

/**
 * The audit trail (auth/audit.ts), version 700: one row per privileged action, never updated.
 * DateTime and String types, so it reads the same on 18.16 and chDB; kept as long as the server
 * keeps it (no TTL: an audit trail outlives the data retention).
 */
export const AUDIT_MIGRATIONS = [
  {
    version: 700,
    name: "create audit",
    statements: (caps: Capabilities): string[] => {
      const { lowString } = columnTypes(caps);
      return [
        `CREATE TABLE IF NOT EXISTS ${AUDIT_TABLE}
(
    audit_id String,
    at DateTime('UTC'),
    actor String,
    role ${lowString},
    via ${lowString},
    action ${lowString},
    target String,
    detail String
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(at)
ORDER BY (at, action, audit_id)`,
      ];
    },
  },
];
