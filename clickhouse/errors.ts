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
  73: "UNKNOWN_FORMAT",
  81: "UNKNOWN_DATABASE",
  115: "UNKNOWN_SETTING",
  117: "INCORRECT_DATA",
  159: "TIMEOUT_EXCEEDED",
  164: "READONLY",
  192: "UNKNOWN_USER",
  193: "WRONG_PASSWORD",
  194: "REQUIRED_PASSWORD",
  241: "MEMORY_LIMIT_EXCEEDED",
  497: "ACCESS_DENIED",
  516: "AUTHENTICATION_FAILED",
};

const HINTS: Record<string, string> = {
  SYNTAX_ERROR: "fix the SQL at the position ClickHouse names; send one statement, without a FORMAT clause",
  UNKNOWN_TABLE: "check the table name; sluice's tables are sluice.events, sluice.dead_letters and sluice.window_aggregates, created by the migrations at start",
  UNKNOWN_DATABASE: "check the database name; sluice's is `sluice`, created by the migrations at start",
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
