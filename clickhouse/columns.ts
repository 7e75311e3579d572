import type { ClickHouseClient } from "@clickhouse/client";
import type { Envelope } from "../subjects/envelope.ts";
import type { Capabilities, ClickHouseLogger } from "./capabilities.ts";
import { clusterOf, clusterStatements } from "./cluster.ts";
import { targetOf, toClickHouseError } from "./errors.ts";
import { DATABASE, TABLES } from "./schema.ts";

/**
 * Typed payload columns on `sluice.events`: every scalar field a source's schema declares becomes a
 * Nullable column `<source>__<field>` (e.g. `iot__temperature Nullable(Float64)`), filled by the
 * events sink from the envelope's payload and NULL for other sources' rows. One wide table keeps
 * one sink, one ORDER BY and one FINAL for every query; ClickHouse stores the NULLs of a sparse
 * Nullable column almost for free. The `payload` JSON stays the whole truth.
 *
 * Left out: `ts` and `event_id` (they are `event_time` and `event_id` already), fields marked
 * `"$comment": "pii"` (a column would widen who sees them), objects and arrays, and names that
 * are no plain identifier.
 */

export type ColumnType = "Float64" | "Int64" | "String" | "UInt8";

export interface TypedColumn {
  readonly name: string;
  readonly source: string;
  readonly field: string;
  readonly type: ColumnType;
}

const SKIPPED = new Set(["ts", "event_id"]);
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const columnName = (source: string, field: string): string => `${source}__${field}`;

function scalarTypes(schema: Record<string, unknown>): Set<string> {
  const out = new Set<string>();
  if (typeof schema.type === "string") out.add(schema.type);
  else if (Array.isArray(schema.type)) for (const t of schema.type) out.add(String(t));
  else if (Array.isArray(schema.enum)) for (const v of schema.enum) out.add(typeof v === "number" ? (Number.isInteger(v) ? "integer" : "number") : typeof v);
  for (const branch of (schema.anyOf ?? []) as Record<string, unknown>[]) for (const t of scalarTypes(branch)) out.add(t);
  out.delete("null");
  return out;
}

/** The column type for a property schema, or undefined when it is no scalar. Mixed scalars are kept as text. */
export function columnTypeOf(property: unknown): ColumnType | undefined {
  if (typeof property !== "object" || property === null) return undefined;
  const types = scalarTypes(property as Record<string, unknown>);
  if (types.size === 0 || types.has("object") || types.has("array")) return undefined;
  if (types.size === 1 && types.has("integer")) return "Int64";
  if ([...types].every((t) => t === "integer" || t === "number")) return "Float64";
  if (types.size === 1 && types.has("boolean")) return "UInt8";
  return "String";
}

/** The typed columns a schema asks for. */
export function typedColumnsOf(source: string, schema: unknown): TypedColumn[] {
  const properties = ((schema as { properties?: Record<string, unknown> })?.properties ?? {});
  const out: TypedColumn[] = [];
  for (const [field, property] of Object.entries(properties)) {
    if (SKIPPED.has(field) || !IDENTIFIER.test(field) || (property as { $comment?: string })?.$comment === "pii") continue;
    const type = columnTypeOf(property);
    if (type) out.push({ name: columnName(source, field), source, field, type });
  }
  return out;
}

/** `IF NOT EXISTS` on ALTER ADD COLUMN is missing on 18.16; servers with DateTime64 (20.1+) have it, so that flag decides. */
export function addColumnStatement(column: TypedColumn, caps: Pick<Capabilities, "dateTime64">): string {
  return `ALTER TABLE ${TABLES.events} ADD COLUMN ${caps.dateTime64 ? "IF NOT EXISTS " : ""}${column.name} Nullable(${column.type})`;
}

function cell(value: unknown, type: string): unknown {
  if (value === undefined || value === null) return null;
  if (type.includes("Float64")) return typeof value === "number" && Number.isFinite(value) ? value : null;
  if (type.includes("Int64")) return typeof value === "number" && Number.isSafeInteger(value) ? value : null;
  if (type.includes("UInt8")) return typeof value === "boolean" ? (value ? 1 : 0) : null;
  if (type.includes("String")) return typeof value === "string" ? value : JSON.stringify(value);
  return null;
}

/**
 * The typed columns `sluice.events` has, kept in step with the schema registry: `ensure` adds what
 * a schema declares (ALTER TABLE … ADD COLUMN while the pipeline runs), `values` maps an envelope
 * to them, converting by the column's actual type (a value that does not fit is NULL; the payload
 * keeps it).
 */
export class EventColumns {
  private readonly client: ClickHouseClient;
  private readonly caps: Capabilities;
  private readonly log: ClickHouseLogger | undefined;
  /** name → ClickHouse type, for the typed columns that exist. */
  private columns = new Map<string, string>();
  private bySource = new Map<string, Array<{ name: string; field: string; type: string }>>();

  constructor(client: ClickHouseClient, caps: Capabilities, log?: ClickHouseLogger) {
    this.client = client;
    this.caps = caps;
    this.log = log;
  }

  async load(): Promise<void> {
    const result = await this.client.query({
      query: `SELECT name, type FROM system.columns WHERE database = '${DATABASE}' AND table = 'events' AND position(name, '__') > 0`,
      format: "JSONEachRow",
    });
    const rows = await result.json<{ name: string; type: string }>();
    this.columns = new Map(rows.map((r) => [r.name, r.type]));
    this.bySource = new Map();
    for (const [name, type] of this.columns) {
      const at = name.indexOf("__");
      const source = name.slice(0, at);
      const list = this.bySource.get(source) ?? [];
      list.push({ name, field: name.slice(at + 2), type });
      this.bySource.set(source, list);
    }
  }

  /** Adds the columns `schema` declares that the table lacks; returns their names. */
  async ensure(source: string, schema: unknown): Promise<string[]> {
    const missing = typedColumnsOf(source, schema).filter((c) => !this.columns.has(c.name));
    if (missing.length === 0) return [];
    const added: string[] = [];
    const run = async (statement: string): Promise<boolean> => {
      try {
        await this.client.command({ query: statement });
        return true;
      } catch (err) {
        // Another process added it between our read and this ALTER.
        if (/already exists/i.test((err as Error).message)) return false;
        throw toClickHouseError(err, statement, targetOf(this.client));
      }
    };
    const cluster = clusterOf(this.client);
    if (cluster === undefined) {
      for (const column of missing) if (await run(addColumnStatement(column, this.caps))) added.push(column.name);
    } else {
      // The columns go on the replicated local tables, then the Distributed table (read above) is
      // recreated once with them: also after a process that died between the two steps.
      for (const statement of clusterStatements(missing.map((c) => addColumnStatement(c, this.caps)), cluster)) await run(statement);
      added.push(...missing.map((c) => c.name));
    }
    await this.load();
    if (added.length) this.log?.info(`clickhouse: ${TABLES.events} has new typed columns ${added.map((n) => `${n} ${this.columns.get(n)}`).join(", ")}`);
    return added;
  }

  has(name: string): boolean {
    return this.columns.has(name);
  }

  /** Every typed column, for the insert's column list. */
  names(): string[] {
    return [...this.columns.keys()].sort();
  }

  /** The envelope's typed column values; columns of other sources are left to their NULL default. */
  values(envelope: Pick<Envelope, "source" | "payload">): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const { name, field, type } of this.bySource.get(envelope.source) ?? []) {
      const value = cell(envelope.payload[field], type);
      if (value !== null) out[name] = value;
    }
    return out;
  }
}
