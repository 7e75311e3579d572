import type { ClickHouseClient } from "@clickhouse/client";
import { targetOf, toClickHouseError } from "./errors.ts";
import { formatResult, type OutputFormat, type TableOptions, type Tabular } from "./format.ts";

export interface QueryResult extends Tabular {
  /** "rows" for statements that return a result set; "command" for DDL, INSERT … VALUES and the like. */
  kind: "rows" | "command";
  /** The result rendered in the requested format. */
  text: string;
  elapsedMs: number;
}

/** The SQL given to `runQuery` cannot be sent as it is; says what to change. */
export class QueryInputError extends Error {
  override name = "QueryInputError";
  readonly sql: string;
  constructor(message: string, sql: string) {
    super(message);
    this.sql = sql;
  }
}

// Statements whose answer is a result set; everything else runs as a command.
const RETURNS_ROWS = /^(?:\(|select\b|with\b|show\b|desc\b|describe\b|exists\b|explain\b)/i;
const LEADING_COMMENTS = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*/;
const FORMAT_CLAUSE = /\bFORMAT\s+[A-Za-z]\w*\s*$/i;

/** The SQL without leading comments and trailing semicolons, and whether it returns rows. */
export function classifyStatement(sql: string): { statement: string; returnsRows: boolean } {
  const statement = sql.replace(LEADING_COMMENTS, "").replace(/[\s;]+$/, "");
  return { statement, returnsRows: RETURNS_ROWS.test(statement) };
}

/** A string literal safe to inline in SQL on any server (18.16 has no query parameters). */
export function quoteString(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/**
 * Runs one SQL statement and returns its column names and types, its rows, and the result
 * rendered as `format`. Rows travel as JSONCompact, which 18.16 and chDB both speak; 64-bit
 * integers come as strings on both, so no precision is lost in JSON. Failures are typed:
 * `QueryInputError` (fix the SQL before sending), `ClickHouseQueryError` (the server's
 * text and a hint) or `ClickHouseUnavailableError`.
 *
 * @example
 * const r = await runQuery(ch.client, "SELECT source, count() AS n FROM sluice.events FINAL GROUP BY source", "table");
 * console.log(r.text);
 */
export async function runQuery(client: ClickHouseClient, sql: string, format: OutputFormat = "table", opts: TableOptions = {}): Promise<QueryResult> {
  const { statement, returnsRows } = classifyStatement(sql);
  if (statement === "") throw new QueryInputError("the query is empty: give one SQL statement, e.g. SELECT count() FROM sluice.events", sql);
  if (FORMAT_CLAUSE.test(statement)) {
    throw new QueryInputError("drop the FORMAT clause from the query; choose the output with the format option (table or json) instead", sql);
  }
  const started = performance.now();
  let tabular: Tabular;
  try {
    if (returnsRows) {
      const result = await client.query({
        query: statement,
        format: "JSONCompact",
        clickhouse_settings: { output_format_json_quote_64bit_integers: 1 },
      });
      const body = await result.json<unknown[]>();
      tabular = { columns: (body.meta ?? []).map(({ name, type }) => ({ name, type })), rows: body.data };
    } else {
      await client.command({ query: statement });
      tabular = { columns: [], rows: [] };
    }
  } catch (err) {
    throw toClickHouseError(err, statement, targetOf(client));
  }
  const elapsedMs = performance.now() - started;
  const text = returnsRows ? formatResult(tabular, format, opts) : format === "json" ? "[]" : "OK";
  return { ...tabular, kind: returnsRows ? "rows" : "command", text, elapsedMs };
}
