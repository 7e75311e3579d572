import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  ClickHouseQueryError,
  ClickHouseUnavailableError,
  cellText,
  classifyStatement,
  formatJson,
  formatResult,
  formatTable,
  parseServerError,
  quoteString,
  toClickHouseError,
  type Tabular,
} from "../../clickhouse/index.ts";

const result: Tabular = {
  columns: [
    { name: "source", type: "LowCardinality(String)" },
    { name: "events", type: "UInt64" },
    { name: "mean", type: "Nullable(Float64)" },
    { name: "tags", type: "Array(String)" },
  ],
  rows: [
    ["iot", "1250", 21.5, ["a", "b"]],
    ["social", "7", null, []],
  ],
};

test("a table aligns columns, right-aligns numbers and counts the rows", () => {
  assert.is(formatTable(result), [
    "source  events  mean  tags",
    "------  ------  ----  ---------",
    "iot       1250  21.5  [\"a\",\"b\"]",
    "social       7  NULL  []",
    "(2 rows)",
  ].join("\n"));
});

test("long cells are cut with an ellipsis, line breaks stay on one line", () => {
  const long: Tabular = { columns: [{ name: "payload", type: "String" }], rows: [["x".repeat(100)], ["one\ntwo\tthree"]] };
  const lines = formatTable(long, { maxCellWidth: 12 }).split("\n");
  assert.is(lines[2], `${"x".repeat(11)}…`);
  assert.is(lines[3], "one\\ntwo\\tt…");
  assert.ok(lines.every((line) => [...line].length <= 12 || line.startsWith("(")), "no line is wider than the cut");
});

test("cut counts characters, not UTF-16 units", () => {
  const emoji: Tabular = { columns: [{ name: "s", type: "String" }], rows: [["😀😀😀😀"]] };
  assert.is(formatTable(emoji, { maxCellWidth: 3 }).split("\n")[2], "😀😀…");
});

test("no rows still shows the header, and a result with no columns just the count", () => {
  assert.is(formatTable({ columns: [{ name: "n", type: "UInt8" }], rows: [] }), "n\n-\n(0 rows)");
  assert.is(formatTable({ columns: [], rows: [] }), "(0 rows)");
  assert.is(formatTable({ columns: [{ name: "n", type: "UInt8" }], rows: [[1]] }).split("\n").at(-1), "(1 row)");
});

test("json is an array of objects keyed by column, nulls kept", () => {
  assert.equal(JSON.parse(formatJson(result)), [
    { source: "iot", events: "1250", mean: 21.5, tags: ["a", "b"] },
    { source: "social", events: "7", mean: null, tags: [] },
  ]);
  assert.is(formatResult(result, "json"), formatJson(result));
  assert.is(formatResult(result, "table"), formatTable(result));
});

test("cells: NULL, strings bare, everything else as JSON", () => {
  assert.is(cellText(null), "NULL");
  assert.is(cellText("plain"), "plain");
  assert.is(cellText(3.5), "3.5");
  assert.is(cellText({ a: 1 }), '{"a":1}');
});

test("statements are classified and trimmed of comments and semicolons", () => {
  assert.equal(classifyStatement("  -- count\n/* all */ SELECT 1;  "), { statement: "SELECT 1", returnsRows: true });
  for (const sql of ["WITH 1 AS x SELECT x", "SHOW TABLES", "DESCRIBE TABLE t", "desc t", "EXISTS TABLE t", "(SELECT 1)", "EXPLAIN SELECT 1"]) {
    assert.ok(classifyStatement(sql).returnsRows, sql);
  }
  for (const sql of ["CREATE TABLE t (a UInt8) ENGINE = Memory", "INSERT INTO t VALUES (1)", "OPTIMIZE TABLE t FINAL", "DROP TABLE t", "TRUNCATE TABLE t"]) {
    assert.not.ok(classifyStatement(sql).returnsRows, sql);
  }
  assert.not.ok(classifyStatement("selection").returnsRows);
});

test("strings are quoted for inlining", () => {
  assert.is(quoteString("it's a \\ path"), "'it\\'s a \\\\ path'");
});

test("server messages are parsed from 18.16's shape and today's", () => {
  assert.equal(parseServerError("Code: 60, e.displayText() = DB::Exception: Table sluice.nope doesn't exist., e.what() = DB::Exception\n"), {
    code: "60",
    serverMessage: "Table sluice.nope doesn't exist.",
  });
  assert.equal(parseServerError("Code: 62. DB::Exception: Syntax error: failed at position 1. (SYNTAX_ERROR) (version 24.8.1.1)"), {
    code: "62",
    serverMessage: "Syntax error: failed at position 1. (SYNTAX_ERROR) (version 24.8.1.1)",
  });
  assert.equal(parseServerError("Unknown expression identifier `zz`"), { serverMessage: "Unknown expression identifier `zz`" });
});

test("client errors become typed errors with a hint; transport failures become unavailable", () => {
  const old = toClickHouseError(new Error("Code: 47, e.displayText() = DB::Exception: Unknown identifier: zz, e.what() = DB::Exception"), "SELECT zz", "http://ch:8123");
  assert.instance(old, ClickHouseQueryError);
  assert.is((old as ClickHouseQueryError).type, "UNKNOWN_IDENTIFIER");
  assert.match(old.message, /DESCRIBE TABLE/);
  assert.match(old.message, /in: SELECT zz/);

  const modern = Object.assign(new Error("Unknown table expression identifier 'x'"), { code: "60", type: "UNKNOWN_TABLE" });
  assert.is((toClickHouseError(modern, "SELECT * FROM x", "t") as ClickHouseQueryError).code, "60");

  const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
  const down = toClickHouseError(refused, "SELECT 1", "http://ch:8123");
  assert.instance(down, ClickHouseUnavailableError);
  assert.is(down.message, "ClickHouse (http://ch:8123) is not reachable (ECONNREFUSED): start the server or fix the url, then retry");
  assert.is(down.cause, refused);
  assert.instance(toClickHouseError(new Error("Timeout error."), "SELECT 1", "t"), ClickHouseUnavailableError);
});

test.run();
