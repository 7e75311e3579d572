import { SCHEMAS_V1 } from "../subjects/schemas/index.ts";
import { SOURCES } from "../subjects/sources.ts";
import { addColumnStatement, typedColumnsOf } from "./columns.ts";
import type { Migration } from "./migrations.ts";

/**
 * Schema-registry migrations (versions 100–199). 100 gives `sluice.events` a typed Nullable column
 * per scalar v1 payload field; fields of later schema versions are added at runtime by
 * `EventColumns.ensure`. On 18.16 (no `ADD COLUMN IF NOT EXISTS`) two processes running this
 * migration at the same moment make one of them fail once; its restart finds it applied.
 */
export const SCHEMA_MIGRATIONS: readonly Migration[] = [
  {
    version: 100,
    name: "typed payload columns on events (v1 schemas)",
    statements: (caps) => SOURCES.flatMap((source) => typedColumnsOf(source, SCHEMAS_V1[source]).map((c) => addColumnStatement(c, caps))),
  },
];
