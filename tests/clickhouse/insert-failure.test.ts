import { test } from "uvu";
import * as assert from "uvu/assert";
import { ClickHouseUnavailableError, classifyInsertFailure, describeInsertFailure, toClickHouseError, type InsertFailureKind } from "../../clickhouse/index.ts";
import { isDataError } from "../../actors/sink/insert-errors.ts";

// Error texts as chDB 3.4 and clickhouse-server 18.16 produced them (captured from real inserts
// and statements; values shortened where they repeat). chDB's connection reshapes its exception
// `Code: N. DB::Exception: … (NAME)` into an error with `code` and `type`, as @clickhouse/client
// does for a modern server; 18.16's HTTP body `Code: N, e.displayText() = …` keeps only the text.
const SQL = "INSERT INTO sluice.events (…) FORMAT JSONEachRow (150 rows)";

/** An error as chDB's connection (and @clickhouse/client on a modern server) hands it over. */
function modern(code: number, type: string, message: string): Error {
  return Object.assign(new Error(message), { code: String(code), type });
}

/** An error as @clickhouse/client hands over an 18.16 response: the server's text only. */
function old(code: number, text: string): Error {
  return new Error(`Code: ${code}, e.displayText() = DB::Exception: ${text}, e.what() = DB::Exception\n`);
}

/** Both the raw client error and what insertRows makes of it classify alike. */
function kindOf(err: Error): InsertFailureKind {
  const raw = classifyInsertFailure(err).kind;
  const wrapped = classifyInsertFailure(toClickHouseError(err, SQL, "test")).kind;
  assert.is(wrapped, raw, `wrapped and raw agree for ${err.message.slice(0, 60)}`);
  return raw;
}

test("code 252 too many partitions for one INSERT (chDB) splits by partition; 252 too many parts waits", () => {
  const partitions = modern(252, "TOO_MANY_PARTS", "Too many partitions for single INSERT block (more than 100). The limit is controlled by 'max_partitions_per_insert_block' setting. Large number of partitions is a common misconception.");
  assert.is(kindOf(partitions), "too_many_partitions");
  assert.equal(classifyInsertFailure(partitions), { kind: "too_many_partitions", code: 252, name: "TOO_MANY_PARTS" });
  const partsChdb = modern(252, "TOO_MANY_PARTS", "Too many parts (1 with average size of 324.00 B) in table 'default.tp (5d4751b7-7929-497a-8b12-c9d1f0c0df94)'. Merges are processing significantly slower than inserts. ");
  assert.is(kindOf(partsChdb), "transient");
  assert.is(kindOf(old(252, "Too many parts (1). Merges are processing significantly slower than inserts.")), "transient");
});

test("values a column cannot take are data errors, on chDB and 18.16", () => {
  assert.is(kindOf(modern(41, "CANNOT_PARSE_DATETIME", "Cannot read DateTime: unexpected word: (while reading the value of key event_time): (at row 2)\n: While executing ParallelParsingBlockInputFormat. ")), "data");
  assert.is(kindOf(modern(72, "CANNOT_PARSE_NUMBER", "Unsigned type must not contain '-' symbol: (while reading the value of key raw_seq): (at row 2)\n: While executing ParallelParsingBlockInputFormat. ")), "data");
  assert.is(kindOf(modern(27, "CANNOT_PARSE_INPUT_ASSERTION_FAILED", `Cannot parse input: expected '"' before: 'abc","event_time":"2020-01-01 00:00:00.000"}\\n': (while reading the value of key schema_version): (at row 2)`)), "data");
  assert.is(kindOf(old(27, `Cannot parse input: expected " before: me":1577836800,"payload":"{}"}\\n: (while read the value of key event_time): (at row 2)\n`)), "data");
  assert.is(kindOf(old(72, "Unsigned type must not contain '-' symbol: (while read the value of key raw_seq): (at row 2)\n")), "data");
  assert.is(kindOf(old(26, "Cannot parse JSON string: expected opening quote: (while read the value of key key): (at row 2)\n")), "data");
});

test("overload, limits, missing tables, read-only and keeper trouble are transient with a wait", () => {
  const cases: Array<[Error, number]> = [
    [modern(60, "UNKNOWN_TABLE", "Table sluice.nope does not exist. Maybe you meant system.one?. "), 60],
    [old(60, "Table sluice.nope doesn't exist."), 60],
    [modern(159, "TIMEOUT_EXCEEDED", "Timeout exceeded: elapsed 1001.556 ms, maximum: 1000 ms. "), 159],
    [old(159, "Timeout exceeded: elapsed 1.999999924 seconds, maximum: 1"), 159],
    [modern(241, "MEMORY_LIMIT_EXCEEDED", "Query memory limit exceeded: would use 1.00 MiB (attempt to allocate chunk of 0.00 B), maximum: 976.56 KiB."), 241],
    [modern(164, "READONLY", "default: Cannot execute query in readonly mode. "), 164],
    // Not reproducible without replication; text and code as ClickHouse's sources give them.
    [modern(242, "TABLE_IS_READ_ONLY", "Table is in readonly mode (replica path: /clickhouse/tables/01/events/replicas/r1)"), 242],
    [modern(999, "KEEPER_EXCEPTION", "Coordination::Exception: Connection loss"), 999],
    [old(202, "Too many simultaneous queries. Maximum: 50"), 202],
    [old(210, "Connection reset by peer, while writing to socket (127.0.0.1:9000)"), 210],
  ];
  for (const [err, code] of cases) {
    const failure = classifyInsertFailure(err);
    assert.is(failure.kind, "transient", err.message);
    assert.is(failure.code, code);
    assert.ok((failure.retryAfterMs ?? 0) > 0, `a wait for ${code}`);
    assert.is(kindOf(err), "transient");
  }
});

test("transport failures are transient: connection refused or reset, client timeouts, a closed embedded client", () => {
  const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:44873"), { code: "ECONNREFUSED" });
  assert.is(kindOf(refused), "transient");
  assert.is(classifyInsertFailure(new ClickHouseUnavailableError("http://127.0.0.1:44873", "ECONNREFUSED", { cause: refused })).name, "ECONNREFUSED");
  assert.is(kindOf(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })), "transient");
  assert.is(kindOf(new Error("Timeout error.")), "transient");
  assert.is(kindOf(new Error("ChdbConnection is closed")), "transient");
});

test("codes no list names, and errors without a code, are unknown: isolated, not retried forever or dead-lettered at once", () => {
  const throwIf = modern(395, "FUNCTION_THROW_IF_VALUE_IS_NON_ZERO", "refused by the test guard: while executing 'FUNCTION throwIf(equals(key, 'explode'_String) :: 31) -> throwIf(…) UInt8 : 30'.");
  assert.equal(classifyInsertFailure(throwIf), { kind: "unknown", code: 395, name: "FUNCTION_THROW_IF_VALUE_IS_NON_ZERO" });
  assert.is(kindOf(old(1001, "std::exception. Code: 1001, type: std::bad_alloc")), "unknown");
  assert.is(kindOf(new Error("something nobody anticipated")), "unknown");
});

test("isDataError (sinks that insert row by row) is every failure that is not transient", () => {
  assert.ok(isDataError(toClickHouseError(modern(252, "TOO_MANY_PARTS", "Too many partitions for single INSERT block (more than 100)."), SQL, "t")), "the old list called this transient: a wedge");
  assert.ok(isDataError(toClickHouseError(old(72, "Unsigned type must not contain '-' symbol"), SQL, "t")));
  assert.not.ok(isDataError(toClickHouseError(old(241, "Memory limit (for query) exceeded"), SQL, "t")));
});

test("a failure in words names code, name and column, and never echoes the rows' values", () => {
  const chdb = toClickHouseError(modern(27, "CANNOT_PARSE_INPUT_ASSERTION_FAILED", `Cannot parse input: expected '"' before: 'secret-card-4111","event_time":"2020-01-01 00:00:00.000"}\\n': (while reading the value of key schema_version): (at row 2)\n: While executing ParallelParsingBlockInputFormat. `), SQL, "t");
  const text = describeInsertFailure(chdb);
  assert.match(text, /^code 27 CANNOT_PARSE_INPUT_ASSERTION_FAILED, column schema_version: Cannot parse input: expected '"'/);
  assert.not.match(text, /secret-card|event_time/);
  const server = describeInsertFailure(old(27, `Cannot parse input: expected " before: secret-card-4111","payload":"{}"}\\n: (while read the value of key event_time): (at row 2)\n`));
  assert.match(server, /^code 27 CANNOT_PARSE_INPUT_ASSERTION_FAILED, column event_time: /);
  assert.not.match(server, /secret-card|payload/);
  assert.match(describeInsertFailure(new Error("something nobody anticipated")), /^no error code: something nobody anticipated$/);
});

test.run();
