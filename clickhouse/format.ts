/** How the CLI prints a result: an aligned text table, or JSON (an array of objects). */
export type OutputFormat = "table" | "json";

export const OUTPUT_FORMATS: readonly OutputFormat[] = ["table", "json"];

export interface QueryColumn {
  name: string;
  type: string;
}

/** A result as the CLI renders it: column names and types, and rows in column order. */
export interface Tabular {
  columns: QueryColumn[];
  rows: unknown[][];
}

export interface TableOptions {
  /** Cells longer than this many characters are cut and end in "…". Default 60. */
  maxCellWidth?: number;
}

const NUMERIC = /^(?:Nullable\()?(?:LowCardinality\()?(?:U?Int\d+|Float\d+|Decimal)/;

/** A cell as one line of text: NULL for null, strings as they are, other values as JSON. */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  const text = typeof value === "string" ? value : typeof value === "number" || typeof value === "boolean" || typeof value === "bigint" ? String(value) : JSON.stringify(value);
  return text.replace(/\r/g, "\\r").replace(/\n/g, "\\n").replace(/\t/g, "\\t");
}

function width(text: string): number {
  return [...text].length;
}

function truncate(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, Math.max(1, max - 1)).join("")}…`;
}

function pad(text: string, size: number, right: boolean): string {
  const fill = " ".repeat(Math.max(0, size - width(text)));
  return right ? fill + text : text + fill;
}

/**
 * An aligned text table: a header, a rule, one line per row (numbers right-aligned, long
 * cells cut), and a closing row count.
 *
 * @example
 * formatTable({ columns: [{ name: "source", type: "String" }, { name: "n", type: "UInt64" }], rows: [["iot", 42]] })
 * // source   n
 * // ------  --
 * // iot     42
 * // (1 row)
 */
export function formatTable(result: Tabular, opts: TableOptions = {}): string {
  const max = Math.max(2, opts.maxCellWidth ?? 60);
  const header = result.columns.map((c) => truncate(cellText(c.name), max));
  const body = result.rows.map((row) => result.columns.map((_, i) => truncate(cellText(row[i]), max)));
  const widths = header.map((h, i) => Math.max(width(h), ...body.map((cells) => width(cells[i]))));
  const numeric = result.columns.map((c) => NUMERIC.test(c.type));
  const line = (cells: string[]) => cells.map((cell, i) => pad(cell, widths[i], numeric[i])).join("  ").trimEnd();
  const count = `(${result.rows.length} ${result.rows.length === 1 ? "row" : "rows"})`;
  if (result.columns.length === 0) return count;
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line), count].join("\n");
}

/** The rows as a JSON array of objects keyed by column name, two-space indented. */
export function formatJson(result: Tabular): string {
  const objects = result.rows.map((row) => Object.fromEntries(result.columns.map((c, i) => [c.name, row[i] ?? null])));
  return JSON.stringify(objects, null, 2);
}

export function formatResult(result: Tabular, format: OutputFormat, opts: TableOptions = {}): string {
  return format === "json" ? formatJson(result) : formatTable(result, opts);
}
