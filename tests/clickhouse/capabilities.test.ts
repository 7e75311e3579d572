import { test } from "uvu";
import * as assert from "uvu/assert";
import { ClickHouseVersionError, capabilitiesFor, fallbackNotices, renderSchema } from "../../clickhouse/index.ts";

test("18.16 has none of the features, 26.7 all of them", () => {
  assert.equal(capabilitiesFor("18.16.1"), { version: "18.16.1", lowCardinality: false, codecs: false, ttl: false, dateTime64: false, queryParams: false });
  assert.equal(capabilitiesFor("26.7.2.1"), { version: "26.7.2.1", lowCardinality: true, codecs: true, ttl: true, dateTime64: true, queryParams: true });
});

test("each feature switches on at the release that brought it", () => {
  const on = (version: string) => Object.entries(capabilitiesFor(version)).filter(([k, v]) => k !== "version" && v).map(([k]) => k).sort();
  assert.equal(on("19.1.5"), []);
  assert.equal(on("19.1.6"), ["codecs"]);
  assert.equal(on("19.3.3"), ["codecs", "lowCardinality"]);
  assert.equal(on("19.6.2.11"), ["codecs", "lowCardinality", "ttl"]);
  assert.equal(on("19.11.3.11"), ["codecs", "lowCardinality", "queryParams", "ttl"]);
  assert.equal(on("19.17.6"), ["codecs", "lowCardinality", "queryParams", "ttl"]);
  assert.equal(on("20.1.2.4"), ["codecs", "dateTime64", "lowCardinality", "queryParams", "ttl"]);
  assert.equal(on("20.1"), ["codecs", "lowCardinality", "queryParams", "ttl"], "20.1 without a patch counts as 20.1.0");
});

test("an unreadable version is a typed error", () => {
  assert.throws(() => capabilitiesFor("unknown"), (err: unknown) => err instanceof ClickHouseVersionError && /unknown/.test((err as Error).message));
});

test("one notice per missing feature, none on a modern server", () => {
  const notices = fallbackNotices(capabilitiesFor("18.16.1"));
  assert.is(notices.length, 5);
  assert.ok(notices.every((line) => line.startsWith("clickhouse 18.16.1: no ")));
  assert.ok(notices[0].startsWith("clickhouse 18.16.1: no DateTime64, using DateTime (second precision) for event_time"));
  assert.equal(fallbackNotices(capabilitiesFor("26.7.2.1")), []);
  assert.equal(fallbackNotices(capabilitiesFor("19.11.3")), ["clickhouse 19.11.3: no DateTime64, using DateTime (second precision) for event_time, ingest_time, received_at, window_start, window_end and emitted_at"]);
});

test("the schema renders per capabilities", () => {
  const old = renderSchema(capabilitiesFor("18.16.1"), { retentionDays: 30 }).join("\n");
  assert.not.match(old, /LowCardinality|DateTime64|CODEC|TTL/);
  assert.match(old, /event_time DateTime\('UTC'\)/);
  const modern = renderSchema(capabilitiesFor("26.7.2.1"), { retentionDays: 30 }).join("\n");
  assert.match(modern, /event_time DateTime64\(3, 'UTC'\)/);
  assert.match(modern, /source LowCardinality\(String\)/);
  assert.match(modern, /payload String CODEC\(ZSTD\(3\)\)/);
  assert.match(modern, /TTL toDateTime\(event_time\) \+ toIntervalDay\(30\)/);
  assert.not.match(renderSchema(capabilitiesFor("26.7.2.1")).join("\n"), /TTL/, "no retention, no TTL");
});

test.run();
