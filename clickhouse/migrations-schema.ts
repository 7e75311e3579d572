import { SCHEMAS_V1 } from "../subjects/schemas/index.ts";
import { SOURCES } from "../subjects/sources.ts";
import { addColumnStatement, typedColumnsOf } from "./columns.ts";
import type { Migration } from "./schema.ts";

/**
 * Schema-registry migrations (versions 100–199). 100 gives `sluice.events` a typed Nullable column
 * per scalar v1 payload field; fields of later schema versions are added at runtime by
 * `EventColumns.ensure`. A migration must survive running twice (two processes at once, or a run
 * cut short before its record), which a plain ADD COLUMN does not: on servers without
 * `ADD COLUMN IF NOT EXISTS` (18.16) 100 renders nothing and `EventColumns.ensure`, which reads
 * `system.columns` first and accepts "already exists", adds the same columns when the events sink starts.
 */
export const SCHEMA_MIGRATIONS: readonly Migration[] = [
  {
    version: 100,
    name: "typed payload columns on events (v1 schemas)",
    statements: (caps) => (caps.dateTime64 ? SOURCES.flatMap((source) => typedColumnsOf(source, SCHEMAS_V1[source]).map((c) => addColumnStatement(c, caps))) : []),
  },
];
