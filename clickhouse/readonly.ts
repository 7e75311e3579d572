/**
 * The gate in front of `sluice.rpc.sql`: one read statement, no table function that reaches
 * outside the engine, no INTO OUTFILE, no SETTINGS of the caller's own, and the server's limits
 * appended to every statement.
 *
 * Measured on chDB 26.7 (why the tokenizer, and not `readonly` alone, is the gate):
 * - it runs every statement of `SELECT 1; DROP TABLE t` — so a second statement must never reach it;
 * - `readonly=1` refuses `file()` even inside sluice's own lake views, which must stay readable;
 * - `readonly=2` lets `file()`, `s3()` and `INTO OUTFILE` through — so they are refused here;
 * - settings passed as `clickhouse_settings` stay on its session for every later query of the
 *   process, so the limits travel in the statement's own SETTINGS clause, which is scoped to it;
 * - a result limit that throws mid-stream (`result_overflow_mode='throw'`) leaves its partial
 *   output in the connection, and the *next* query's reply fails to parse — so the result limits
 *   `break` (the engine stops after the block that crossed them) and the caller cuts and flags.
 *
 * The tokenizer errs towards seeing more: comments end at the first `*\/` (never nested), and any
 * character it does not know outside a string or quoted name (`$`, `#`, `\`, non-ASCII) is refused
 * rather than guessed at, so nothing the engine would run can hide in what it took for a comment
 * or a string.
 *
 * @example
 * const statement = readOnlyStatement("SELECT count() FROM sluice.events -- all of them");
 * await client.query({ query: withReadLimits(statement, READ_LIMITS), format: "JSONCompact" });
 */

/** First words of the statements a reader may send. */
export const READ_STATEMENTS = ["select", "with", "show", "describe", "desc", "explain", "exists"] as const;

/** Table (and scalar) functions that read or write outside the engine's own tables. */
const OUTSIDE_FUNCTIONS = new Set([
  "file", "filecluster", "url", "urlcluster", "input", "remote", "remotesecure", "cluster", "clusterallreplicas", "mysql", "postgresql", "sqlite", "mongodb", "redis",
  "jdbc", "odbc", "executable", "gcs", "oss", "cosn", "arrowflight", "ytsaurus", "prometheusquery",
  // A scalar function that loads a model file from a path.
  "catboostevaluate",
]);
/**
 * Families with cluster and engine variants (`s3Cluster`, `icebergS3`, `azureBlobStorageCluster` …),
 * none of whose prefixes starts a harmless function; `file` and `url` are listed exactly, since
 * `filesystemAvailable()` and `URLHierarchy()` are ordinary functions.
 */
const OUTSIDE_PREFIXES = ["s3", "hdfs", "azure", "iceberg", "deltalake", "hudi", "paimon"];

export type ReadOnlyReason = "empty" | "statement" | "multiple" | "table_function" | "outfile" | "settings" | "syntax";

/** The statement is not one a reader may run; `reason` is the metric label, the message says what to do instead. */
export class ReadOnlyRefusal extends Error {
  override name = "ReadOnlyRefusal";
  readonly reason: ReadOnlyReason;
  /** What was refused: the statement's first word, the function's name, or the character. */
  readonly got: string;
  constructor(reason: ReadOnlyReason, got: string, message: string) {
    super(message);
    this.reason = reason;
    this.got = got;
  }
}

interface Token {
  readonly kind: "word" | "quoted" | "string" | "number" | "punct";
  /** Words and quoted names lower-cased; punctuation as written. */
  readonly text: string;
  /** Offset just past the token in the SQL. */
  readonly end: number;
}

const WORD_START = /[A-Za-z_]/;
const WORD = /[A-Za-z0-9_]/;
const DIGIT = /[0-9]/;
const PUNCT = new Set([..."()[]{},.;:*+-/%=<>!?|^&@~"]);

/** Reads a literal or name closed by `quote`; both `\x` escapes and doubled quotes, as ClickHouse does. */
function readQuoted(sql: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < sql.length) {
    const ch = sql[i];
    if (ch === "\\") i += 2;
    else if (ch === quote && sql[i + 1] === quote) i += 2;
    else if (ch === quote) return i + 1;
    else i++;
  }
  throw new ReadOnlyRefusal("syntax", quote, `sluice.rpc.sql is read-only: a ${quote} quote at offset ${start} is not closed`);
}

function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i]!;
    if (/\s/.test(ch)) i++;
    else if (ch === "-" && sql[i + 1] === "-") {
      const end = sql.indexOf("\n", i);
      i = end < 0 ? sql.length : end + 1;
    } else if (ch === "/" && sql[i + 1] === "*") {
      const end = sql.indexOf("*/", i + 2);
      if (end < 0) throw new ReadOnlyRefusal("syntax", "/*", `sluice.rpc.sql is read-only: the comment at offset ${i} is not closed`);
      i = end + 2;
    } else if (ch === "'") {
      const end = readQuoted(sql, i, ch);
      tokens.push({ kind: "string", text: sql.slice(i, end), end });
      i = end;
    } else if (ch === "`" || ch === '"') {
      const end = readQuoted(sql, i, ch);
      tokens.push({ kind: "quoted", text: sql.slice(i + 1, end - 1).toLowerCase(), end });
      i = end;
    } else if (WORD_START.test(ch)) {
      let end = i + 1;
      while (end < sql.length && WORD.test(sql[end]!)) end++;
      tokens.push({ kind: "word", text: sql.slice(i, end).toLowerCase(), end });
      i = end;
    } else if (DIGIT.test(ch)) {
      let end = i + 1;
      while (end < sql.length && /[0-9A-Za-z_.]/.test(sql[end]!)) end++;
      tokens.push({ kind: "number", text: sql.slice(i, end), end });
      i = end;
    } else if (PUNCT.has(ch)) {
      tokens.push({ kind: "punct", text: ch, end: i + 1 });
      i++;
    } else {
      throw new ReadOnlyRefusal("syntax", ch, `sluice.rpc.sql is read-only: the character ${JSON.stringify(ch)} at offset ${i} is not accepted outside a string; quote it`);
    }
  }
  return tokens;
}

function isOutside(name: string): boolean {
  return OUTSIDE_FUNCTIONS.has(name) || OUTSIDE_PREFIXES.some((p) => name.startsWith(p));
}

const OPERATOR_HINT = "use an operator path instead: stop the process that owns the embedded data and run `sluice sql` there, or a ClickHouse server user with that grant (sluice deploy clickhouse-users)";

/**
 * The one read statement in `sql`, trailing semicolons dropped; throws {@link ReadOnlyRefusal}
 * for anything else, naming what was refused.
 */
export function readOnlyStatement(sql: string): string {
  const tokens = tokenize(sql);
  let end = tokens.length;
  while (end > 0 && tokens[end - 1]!.text === ";" && tokens[end - 1]!.kind === "punct") end--;
  const body = tokens.slice(0, end);
  if (body.length === 0) throw new ReadOnlyRefusal("empty", "", "the query is empty: give one SQL statement, e.g. SELECT count() FROM sluice.events");
  const first = body.find((t) => !(t.kind === "punct" && t.text === "("));
  if (!first || first.kind !== "word" || !(READ_STATEMENTS as readonly string[]).includes(first.text)) {
    const word = first?.text.toUpperCase() ?? "(";
    throw new ReadOnlyRefusal("statement", word, `sluice.rpc.sql is read-only: ${word} is not allowed (only ${READ_STATEMENTS.map((s) => s.toUpperCase()).join(", ")}); ${OPERATOR_HINT}`);
  }
  for (let i = 0; i < body.length; i++) {
    const t = body[i]!;
    if (t.kind === "punct" && t.text === ";") {
      throw new ReadOnlyRefusal("multiple", ";", `sluice.rpc.sql is read-only: send one statement per request (a ";" at token ${i} starts another)`);
    }
    if ((t.kind === "word" || t.kind === "quoted") && isOutside(t.text) && body[i + 1]?.text === "(") {
      throw new ReadOnlyRefusal("table_function", t.text, `sluice.rpc.sql is read-only: the function ${t.text}() reads or writes outside sluice's tables and is not allowed; query the sluice tables and views (e.g. sluice.lake_events) instead`);
    }
    if (t.kind === "word" && t.text === "outfile") {
      throw new ReadOnlyRefusal("outfile", "INTO OUTFILE", `sluice.rpc.sql is read-only: INTO OUTFILE is not allowed; the rows come back in the reply (sluice sql --format json > file)`);
    }
    if (t.kind === "word" && t.text === "format" && body[i + 1]?.text !== "(") {
      throw new ReadOnlyRefusal("syntax", "FORMAT", "drop the FORMAT clause from the query; choose the output with the format option (table or json) instead");
    }
    if (t.kind === "word" && t.text === "settings") {
      throw new ReadOnlyRefusal("settings", "SETTINGS", "sluice.rpc.sql is read-only: a SETTINGS clause is not allowed; the server sets the read limits");
    }
  }
  // Cut after the last token: a trailing comment or semicolon must not swallow the SETTINGS appended later.
  return sql.slice(0, body[body.length - 1]!.end);
}

/** Bounds on one read: time (past it the query fails), and the size of the answer (past it the answer is cut, see {@link cutToLimit}). */
export interface ReadLimits {
  readonly maxExecutionSeconds: number;
  readonly maxResultRows: number;
  readonly maxResultBytes: number;
}

export const READ_LIMITS: ReadLimits = { maxExecutionSeconds: 30, maxResultRows: 100_000, maxResultBytes: 64 * 1024 * 1024 };

/**
 * `statement` with the limits and `readonly=2` in its own SETTINGS clause: scoped to this query
 * (see the module note), and `readonly=2` rather than 1 so the lake views' own `file()`/`s3()`
 * reads still work while DDL and DML are refused by the engine as well. A trailing `--` comment
 * is closed off by the newline.
 */
export function withReadLimits(statement: string, limits: ReadLimits = READ_LIMITS): string {
  return `${statement}\nSETTINGS max_execution_time = ${limits.maxExecutionSeconds}, max_result_rows = ${limits.maxResultRows}, max_result_bytes = ${limits.maxResultBytes}, result_overflow_mode = 'break', readonly = 2`;
}

/**
 * The rows a reader gets: at most `maxResultRows`, and whether some were left off — with
 * `break` the engine returns the whole block that crossed the limit, so more than the limit
 * means cut.
 */
export function cutToLimit<T>(rows: T[], limits: ReadLimits = READ_LIMITS): { rows: T[]; truncated: boolean } {
  return rows.length > limits.maxResultRows ? { rows: rows.slice(0, limits.maxResultRows), truncated: true } : { rows, truncated: false };
}
