import { DATABASE, TABLES, WINDOW_TABLES } from "./schema.ts";

/**
 * Typed errors of the storage layer. Each one carries what ClickHouse said and what to do
 * about it, so the CLI can print `error.message` and nothing else.
 */

/** Another live process holds the embedded chDB data directory. */
export class DataDirLockedError extends Error {
  override name = "DataDirLockedError";
  readonly dataDir: string;
  readonly lockFile: string;
  readonly pid: number;
  constructor(dataDir: string, lockFile: string, pid: number) {
    const who = pid === process.pid ? `this process (pid ${pid}) through another open handle` : `process ${pid}`;
    super(
      `chDB data directory ${dataDir} is in use by ${who} (lock file ${lockFile}). ` +
        `chDB allows one process per directory: stop that process (kill ${pid}) or close the other handle, ` +
        `use another data directory, or share the data through a ClickHouse server url instead.`,
    );
    this.dataDir = dataDir;
    this.lockFile = lockFile;
    this.pid = pid;
  }
}

const targets = new WeakMap<object, string>();

/** Remembers where a client points (url without credentials, or chDB's data dir) for error messages. */
export function registerTarget(client: object, target: string): void {
  targets.set(client, target);
}

export function targetOf(client: object): string {
  return targets.get(client) ?? "the configured server";
}

/** libchdb in this process already serves another data directory (one per process). */
export class EmbeddedEngineBusyError extends Error {
  override name = "EmbeddedEngineBusyError";
  readonly dataDir: string;
  constructor(dataDir: string, detail: string, options?: { cause?: unknown }) {
    super(
      `cannot open chDB at ${dataDir}: ${detail}. One process serves one chDB data directory: ` +
        `close the other handle (await its close()) first, or open this directory from another process`,
      options,
    );
    this.dataDir = dataDir;
  }
}

/** The server could not be reached at all: nothing ClickHouse said, a transport failure. */
export class ClickHouseUnavailableError extends Error {
  override name = "ClickHouseUnavailableError";
  readonly target: string;
  constructor(target: string, detail: string, options?: { cause?: unknown }) {
    super(`ClickHouse (${target}) is not reachable (${detail}): start the server or fix the url, then retry`, options);
    this.target = target;
  }
}

/**
 * ClickHouse refused a statement; `serverMessage` is its own text, `hint` what to change.
 * `code` is the numeric error code as a string, as `ClickHouseError` from the client has it.
 */
export class ClickHouseQueryError extends Error {
  override name = "ClickHouseQueryError";
  readonly code?: string;
  readonly type?: string;
  readonly serverMessage: string;
  readonly hint: string;
  readonly sql: string;
  constructor(fields: { code?: string; type?: string; serverMessage: string; hint: string; sql: string }, options?: { cause?: unknown }) {
    const label = fields.code === undefined ? "" : ` ${fields.code}${fields.type ? ` ${fields.type}` : ""}`;
    super(`ClickHouse error${label}: ${fields.serverMessage}\n  -> ${fields.hint}\n  in: ${shorten(fields.sql, 300)}`, options);
    this.code = fields.code;
    this.type = fields.type;
    this.serverMessage = fields.serverMessage;
    this.hint = fields.hint;
    this.sql = fields.sql;
  }
}

// 18.16 reports only the number, so the names it would have are filled in here.
const CODE_NAMES: Record<number, string> = {
  6: "CANNOT_PARSE_TEXT",
  26: "CANNOT_PARSE_QUOTED_STRING",
  27: "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
  41: "CANNOT_PARSE_DATETIME",
  43: "ILLEGAL_TYPE_OF_ARGUMENT",
  44: "ILLEGAL_COLUMN",
  46: "UNKNOWN_FUNCTION",
  47: "UNKNOWN_IDENTIFIER",
  50: "UNKNOWN_TYPE",
  53: "TYPE_MISMATCH",
  60: "UNKNOWN_TABLE",
  62: "SYNTAX_ERROR",
  72: "CANNOT_PARSE_NUMBER",
  73: "UNKNOWN_FORMAT",
  81: "UNKNOWN_DATABASE",
  115: "UNKNOWN_SETTING",
  117: "INCORRECT_DATA",
  159: "TIMEOUT_EXCEEDED",
  164: "READONLY",
  192: "UNKNOWN_USER",
  193: "WRONG_PASSWORD",
  194: "REQUIRED_PASSWORD",
  202: "TOO_MANY_SIMULTANEOUS_QUERIES",
  209: "SOCKET_TIMEOUT",
  210: "NETWORK_ERROR",
  241: "MEMORY_LIMIT_EXCEEDED",
  242: "TABLE_IS_READ_ONLY",
  252: "TOO_MANY_PARTS",
  321: "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
  349: "CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN",
  497: "ACCESS_DENIED",
  516: "AUTHENTICATION_FAILED",
};

const HINTS: Record<string, string> = {
  SYNTAX_ERROR: "fix the SQL at the position ClickHouse names; send one statement, without a FORMAT clause",
  UNKNOWN_TABLE: `check the table name; sluice's tables are ${[...Object.values(TABLES), ...Object.values(WINDOW_TABLES)].join(", ")}, created by the migrations at start`,
  UNKNOWN_DATABASE: `check the database name; sluice's is \`${DATABASE}\`, created by the migrations at start`,
  UNKNOWN_IDENTIFIER: "a column or alias is unknown; DESCRIBE TABLE <table> lists the columns",
  UNKNOWN_FUNCTION: "this ClickHouse version has no such function; SELECT name FROM system.functions lists the ones it has",
  UNKNOWN_TYPE: "this ClickHouse version has no such type; older servers lack LowCardinality, DateTime64, Map and others",
  UNKNOWN_SETTING: "this ClickHouse version does not know the setting; drop it or check its name in system.settings",
  UNKNOWN_FORMAT: "this ClickHouse version does not know the format; SELECT name FROM system.formats lists the ones it has",
  ILLEGAL_TYPE_OF_ARGUMENT: "an argument has the wrong type; cast it (toString, toUInt64, toDateTime, ...) to what the function expects",
  TYPE_MISMATCH: "a value's type does not match its column; cast it to the column's type",
  CANNOT_PARSE_TEXT: "a value does not match its column's type; check the row and the column types with DESCRIBE TABLE",
  CANNOT_PARSE_QUOTED_STRING: "a value does not match its column's type; check the row and the column types with DESCRIBE TABLE",
  CANNOT_PARSE_INPUT_ASSERTION_FAILED: "a value does not match its column's type; check the row and the column types with DESCRIBE TABLE",
  CANNOT_PARSE_DATETIME: "a time value is not in a form the column accepts; the row mappers in clickhouse/rows.ts format them per server",
  INCORRECT_DATA: "the data sent does not match the table; check the row against DESCRIBE TABLE",
  TIMEOUT_EXCEEDED: "the query ran too long; narrow it with WHERE and LIMIT or raise max_execution_time",
  MEMORY_LIMIT_EXCEEDED: "the query needs more memory than allowed; narrow it with WHERE and LIMIT or raise max_memory_usage",
  READONLY: "the user is read-only; use a user that may write",
  UNKNOWN_USER: "check the ClickHouse user and password",
  WRONG_PASSWORD: "check the ClickHouse user and password",
  REQUIRED_PASSWORD: "check the ClickHouse user and password",
  AUTHENTICATION_FAILED: "check the ClickHouse user and password",
  ACCESS_DENIED: "the user lacks a grant for this; use another user or grant it in the server's users config",
};

const TRANSPORT_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "EPIPE", "EAI_AGAIN", "UND_ERR_SOCKET"]);

/** The server's text from either message shape: 18.16's `Code: N, e.displayText() = DB::Exception: ...` or today's. */
export function parseServerError(message: string): { code?: string; serverMessage: string } {
  const old = /Code:\s*(\d+)[.,]\s*(?:e\.displayText\(\)\s*=\s*)?(?:DB::Exception:\s*)?([\s\S]*?)(?:,\s*e\.what\(\)\s*=\s*DB::Exception)?\s*$/.exec(message);
  if (old) return { code: old[1], serverMessage: old[2].trim() };
  return { serverMessage: message.trim() };
}

function shorten(text: string, max: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function transportCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && TRANSPORT_CODES.has(code)) return code;
    const message = (e as { message?: unknown }).message;
    if (typeof message === "string" && /^Timeout error\.?$|socket hang up/i.test(message)) return message;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Turns whatever the client threw into a typed error: unavailable (transport) or a query
 * error with the server's text and a hint. `target` names the server in messages.
 */
export function toClickHouseError(err: unknown, sql: string, target: string): Error {
  if (err instanceof ClickHouseQueryError || err instanceof ClickHouseUnavailableError) return err;
  const transport = transportCode(err);
  if (transport) return new ClickHouseUnavailableError(target, transport, { cause: err });
  const raw = err instanceof Error ? err.message : String(err);
  const parsed = parseServerError(raw);
  const fromClient = err as { code?: unknown; type?: unknown };
  const code = parsed.code ?? (fromClient.code !== undefined && /^\d+$/.test(String(fromClient.code)) ? String(fromClient.code) : undefined);
  const type = typeof fromClient.type === "string" ? fromClient.type : code !== undefined ? CODE_NAMES[Number(code)] : undefined;
  const hint = (type && HINTS[type]) ?? "see ClickHouse's message above; the statement was not applied";
  return new ClickHouseQueryError({ code, type, serverMessage: parsed.serverMessage, hint, sql }, { cause: err });
}

/**
 * What a failed insert means for the rows in it, decided in this one place for every sink:
 * - `transient`: the server is busy, away or misconfigured; the same rows will go in later.
 *   Hold them and retry after `retryAfterMs`.
 * - `data`: a row does not fit its column; split the batch and dead-letter only the rows
 *   that fail alone.
 * - `too_many_partitions`: the rows span more partitions than one INSERT may create; split
 *   them by partition and insert each part (nothing is wrong with any row).
 * - `unknown`: an error nobody has classified; isolate the rows that fail alone, retry each a
 *   bounded number of times, then dead-letter it with the error.
 */
export type InsertFailureKind = "transient" | "data" | "too_many_partitions" | "unknown";

export interface InsertFailure {
  readonly kind: InsertFailureKind;
  /** ClickHouse's numeric error code, when it gave one. */
  readonly code?: number;
  /** The code's name (`TOO_MANY_PARTS`), or the transport error (`ECONNREFUSED`). */
  readonly name?: string;
  /** Transient only: how long to wait before the same rows are tried again. */
  readonly retryAfterMs?: number;
}

/**
 * Codes from ClickHouse's src/Common/ErrorCodes.cpp that mean "not now" rather than "not these
 * rows", with the wait before the next try. Overload and merges need longer than a dropped
 * connection. A missing table, database or column (a migration or ALTER not yet run) and
 * refused credentials are fixed by an operator: the rows must wait for that, not be dead-lettered.
 */
const TRANSIENT_RETRY_MS: Record<number, number> = {
  16: 1_000, // NO_SUCH_COLUMN_IN_TABLE
  60: 1_000, // UNKNOWN_TABLE
  81: 1_000, // UNKNOWN_DATABASE
  159: 1_000, // TIMEOUT_EXCEEDED
  160: 1_000, // TOO_SLOW
  164: 5_000, // READONLY (the user may not write)
  173: 2_000, // CANNOT_ALLOCATE_MEMORY
  192: 5_000, // UNKNOWN_USER
  193: 5_000, // WRONG_PASSWORD
  194: 5_000, // REQUIRED_PASSWORD
  195: 5_000, // IP_ADDRESS_NOT_ALLOWED
  198: 1_000, // DNS_ERROR
  201: 5_000, // QUOTA_EXPIRED (refills at the next interval)
  202: 1_000, // TOO_MANY_SIMULTANEOUS_QUERIES
  203: 1_000, // NO_FREE_CONNECTION
  209: 500, // SOCKET_TIMEOUT
  210: 500, // NETWORK_ERROR
  218: 1_000, // TABLE_IS_DROPPED (being dropped or re-created)
  225: 1_000, // NO_ZOOKEEPER
  236: 500, // ABORTED
  241: 2_000, // MEMORY_LIMIT_EXCEEDED
  242: 2_000, // TABLE_IS_READ_ONLY (replica lost its keeper session)
  243: 5_000, // NOT_ENOUGH_SPACE
  244: 1_000, // UNEXPECTED_ZOOKEEPER_ERROR
  252: 2_000, // TOO_MANY_PARTS (merges behind inserts); see TOO_MANY_PARTITIONS_TEXT for the other meaning
  279: 500, // ALL_CONNECTION_TRIES_FAILED
  285: 1_000, // TOO_FEW_LIVE_REPLICAS
  286: 1_000, // UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE
  291: 5_000, // DATABASE_ACCESS_DENIED
  319: 500, // UNKNOWN_STATUS_OF_INSERT (rows are idempotent, so inserting again is safe)
  364: 1_000, // RECEIVED_ERROR_TOO_MANY_REQUESTS
  394: 500, // QUERY_WAS_CANCELLED
  425: 1_000, // SYSTEM_ERROR
  439: 1_000, // CANNOT_SCHEDULE_TASK (thread pool full)
  473: 500, // DEADLOCK_AVOIDED
  497: 5_000, // ACCESS_DENIED
  516: 5_000, // AUTHENTICATION_FAILED
  999: 1_000, // KEEPER_EXCEPTION
  1000: 500, // POCO_EXCEPTION (ClickHouse's own network layer)
};

/** Codes that name a value ClickHouse cannot put in its column: the row is wrong, retrying cannot help. */
const DATA_CODES = new Set([
  6, // CANNOT_PARSE_TEXT
  25, // CANNOT_PARSE_ESCAPE_SEQUENCE
  26, // CANNOT_PARSE_QUOTED_STRING
  27, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
  36, // BAD_ARGUMENTS
  38, // CANNOT_PARSE_DATE
  41, // CANNOT_PARSE_DATETIME
  43, // ILLEGAL_TYPE_OF_ARGUMENT
  53, // TYPE_MISMATCH
  69, // ARGUMENT_OUT_OF_BOUND
  70, // CANNOT_CONVERT_TYPE
  72, // CANNOT_PARSE_NUMBER
  117, // INCORRECT_DATA
  128, // TOO_LARGE_ARRAY_SIZE
  131, // TOO_LARGE_STRING_SIZE
  248, // INVALID_PARTITION_VALUE
  321, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
  349, // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
  376, // CANNOT_PARSE_UUID
  407, // DECIMAL_OVERFLOW
  441, // CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING
  467, // CANNOT_PARSE_BOOL
  469, // VIOLATED_CONSTRAINT
  632, // UNEXPECTED_DATA_AFTER_PARSED_VALUE
]);

/**
 * Code 252 has two meanings: "Too many parts" (merges are behind, wait) and, since 19.x,
 * "Too many partitions for single INSERT block (more than 100)" (max_partitions_per_insert_block):
 * the rows must be split, or the batch is refused forever.
 */
const TOO_MANY_PARTITIONS_TEXT = /too many partitions for (?:a )?single insert block/i;
/** Our own embedded client closed under a running insert (shutdown): the rows wait for the next owner. */
const CLIENT_CLOSED_TEXT = /ChdbConnection is closed|client (?:is|has been) closed/i;

function errorCode(err: unknown): number | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if ((typeof code === "string" && /^\d+$/.test(code)) || typeof code === "number") return Number(code);
    const message = (e as { message?: unknown }).message;
    if (typeof message === "string") {
      const parsed = parseServerError(message).code;
      if (parsed !== undefined) return Number(parsed);
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function messages(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e && depth < 4; depth++) {
    const message = (e as { message?: unknown }).message;
    parts.push(typeof message === "string" ? message : String(e));
    e = (e as { cause?: unknown }).cause;
  }
  return parts.join("\n");
}

/**
 * Classifies what an insert threw, from chDB (an exception whose text starts `Code: NNN.`), a
 * modern server over HTTP (@clickhouse/client's error with `code`), 18.16 (`Code: NNN,
 * e.displayText() = …`) or the transport (connection refused or reset, timeouts).
 *
 * @example
 * classifyInsertFailure(err) // { kind: "transient", code: 241, name: "MEMORY_LIMIT_EXCEEDED", retryAfterMs: 2000 }
 */
export function classifyInsertFailure(err: unknown): InsertFailure {
  if (err instanceof ClickHouseUnavailableError) return { kind: "transient", name: transportCode(err.cause) ?? "unreachable", retryAfterMs: 500 };
  const transport = transportCode(err);
  if (transport) return { kind: "transient", name: transport, retryAfterMs: 500 };
  const code = errorCode(err);
  const text = messages(err);
  if (code === undefined) return CLIENT_CLOSED_TEXT.test(text) ? { kind: "transient", name: "client closed", retryAfterMs: 500 } : { kind: "unknown" };
  const type = (err as { type?: unknown }).type;
  const name = typeof type === "string" ? type : CODE_NAMES[code];
  if (code === 252 && TOO_MANY_PARTITIONS_TEXT.test(text)) return { kind: "too_many_partitions", code, name: "TOO_MANY_PARTS" };
  const wait = TRANSIENT_RETRY_MS[code];
  if (wait !== undefined) return { kind: "transient", code, name, retryAfterMs: wait };
  if (DATA_CODES.has(code)) return { kind: "data", code, name };
  return { kind: "unknown", code, name };
}

/**
 * A failed insert in words fit for a dead letter's reason, a log line or a span: the code, its
 * name, the column ClickHouse names and its message without the quoted input it echoes (`before:
 * '…'`, which can hold any field of the rows).
 *
 * @example
 * describeInsertFailure(err) // "code 27 CANNOT_PARSE_INPUT_ASSERTION_FAILED, column schema_version: Cannot parse input: expected '\"' (at row 2)"
 */
export function describeInsertFailure(err: unknown): string {
  const failure = classifyInsertFailure(err);
  const raw = err instanceof ClickHouseQueryError ? err.serverMessage : parseServerError(err instanceof Error ? err.message : String(err)).serverMessage;
  const column = /value of key ([^\s)]+)\)/.exec(raw)?.[1];
  const text = raw
    .replace(/\s*before:[\s\S]*?(?=: \(while|$)/, "")
    .replace(/: \(while read(?:ing)? the value of key [^\s)]+\)/, "")
    .replace(/\s+/g, " ")
    .trim();
  const label = [failure.code !== undefined ? `code ${failure.code}` : undefined, failure.name].filter(Boolean).join(" ");
  return `${label || "no error code"}${column ? `, column ${column}` : ""}: ${shorten(text, 300)}`;
}
