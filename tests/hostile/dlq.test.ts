import * as assert from "uvu/assert";
import { freshKey, hostileSuite, reading, rows, runCases } from "./corpus.ts";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { withDeadline } from "../../nats/deadline.ts";
import { waitFor } from "../harness/wait.ts";
import { streamCount } from "../harness/pipeline.ts";
import {
  getDeadLetter, listDeadLetters, originalEventId, purgeDeadLetters, replayDeadLetters, replayMessage, sequenceEventId,
} from "../../api/dlq.ts";
import { createValidator } from "../../actors/validate/index.ts";
import { HEADERS } from "../../subjects/catalog.ts";
import { runQuery } from "../../clickhouse/index.ts";
import { dqReportQuery } from "../../quality/report.ts";

const test = hostileSuite("dead-letter tooling");

test("the replay id is the id validate derives from the ORIGINAL stream and sequence", () => {
  const validate = createValidator({ partitions: 4 });
  const v = validate({ subject: "raw.iot.s1", stream: "RAW", seq: 77, deliveries: 1, timestampMs: Date.now(), headers: new Map(), data: new TextEncoder().encode(reading("s1")), traceId: "" });
  assert.ok(v.ok && v.envelope.event_id === sequenceEventId("RAW", 77));
});

test("ls filters, show has payload, headers, reason and attempts; replay twice moves a dead letter into events once", async (ctx) => {
  const { nc, pipeline } = ctx;
  const key = freshKey("dlq");
  const other = freshKey("dlq");
  // An event time decades old is rejected whatever the clock says, so replaying it fails again.
  const ancient = reading(key, { ts: "1999-01-01T00:00:00Z", event_id: undefined });
  await runCases(ctx, [
    { name: "ancient", subject: `raw.iot.${key}`, body: ancient, headers: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" }, expect: "dq_event_time_fresh" },
    { name: "schema", subject: `raw.iot.${other}`, body: reading(other, { humidity: 500 }), expect: "schema" },
  ]);
  const all = await listDeadLetters(nc, { source: "iot" });
  const mine = all.filter((d) => d.originalSubject === `raw.iot.${key}`);
  assert.is(mine.length, 1);
  const [dl] = mine;
  assert.equal((await listDeadLetters(nc, { actor: "validate", reason: "dq_event_time_fresh" })).map((d) => d.id), [dl.id]);
  assert.equal((await listDeadLetters(nc, { reason: "HUMIDITY" })).map((d) => d.originalSubject), [`raw.iot.${other}`], "reason text, any case");
  assert.equal(await listDeadLetters(nc, { source: "txn" }), []);
  assert.equal(await listDeadLetters(nc, { sinceMs: Date.now() + 60_000 }), []);
  assert.is((await listDeadLetters(nc, { limit: 1 })).length, 1);

  const shown = await getDeadLetter(nc, dl.id);
  assert.ok(shown);
  assert.is(new TextDecoder().decode(shown!.data), ancient);
  assert.is(shown!.headers.traceparent?.slice(0, 35), "00-0af7651916cd43dd8448eb211c80319c");
  assert.is(shown!.deliveries, 1);
  assert.match(shown!.reason, /expected at most 3650d before ingest/);
  assert.is(await getDeadLetter(nc, 999_999), undefined);

  const message = replayMessage(shown!);
  assert.is(message.subject, `raw.iot.${key}`);
  assert.is(message.headers[HEADERS.replayCount], "1");
  assert.is(message.msgId, sequenceEventId("RAW", shown!.originalSeq), "the id of the ORIGINAL RAW message");

  // Replay the same dead letter twice: still rejected (nothing was fixed), and each replay is a new dead letter
  // that remembers the original event id and the replay count.
  const first = await replayDeadLetters(nc, [shown!]);
  assert.equal(first.map((r) => [r.error, r.duplicate]), [[undefined, false]]);
  const again = await replayDeadLetters(nc, [shown!]);
  assert.ok(again[0].duplicate, "a second replay inside RAW's duplicate window is not stored again");
  const replayed = await waitFor(() => listDeadLetters(nc, { reason: "dq_event_time_fresh" }), (l) => l.length === 2);
  const second = replayed.find((d) => d.id !== dl.id)!;
  assert.is(second.replayCount, 1);
  assert.is(originalEventId(second), message.msgId, "a replay that fails again keeps the original event id");
  assert.is(replayMessage(second).headers[HEADERS.replayCount], "2");

  // Purge by id, then by subject filter.
  assert.is(await purgeDeadLetters(nc, { ids: [second.id] }, [second]), 1);
  assert.is(await getDeadLetter(nc, second.id), undefined);
  const before = await streamCount(nc, "DLQ");
  const iotOnly = await listDeadLetters(nc, { actor: "validate", source: "iot" });
  assert.is(await purgeDeadLetters(nc, { actor: "validate", source: "iot" }, iotOnly), iotOnly.length);
  assert.is(await streamCount(nc, "DLQ"), before - iotOnly.length);
  const rows = await pipeline.scalar(`SELECT count() FROM sluice.dead_letters FINAL WHERE subject = 'raw.iot.${key}'`);
  assert.ok(rows >= 1, "sluice.dead_letters keeps its rows as history");
});

test("a dead letter replayed after the cause is fixed becomes exactly one event, however often it is replayed", async (ctx) => {
  const { nc, pipeline } = ctx;
  const key = freshKey("fix");
  // Published on the wrong key: dead letter key_mismatch. "Fixing" it here means replaying a copy whose
  // original subject is corrected, as an operator would after fixing the producer's routing.
  await runCases(ctx, [{ name: "wrong key", subject: `raw.iot.${key}-typo`, body: reading(key), expect: "key_mismatch" }]);
  const [dl] = await listDeadLetters(nc, { reason: "key_mismatch" });
  const fixed = { ...dl, originalSubject: `raw.iot.${key}` };
  const eventId = replayMessage(fixed).msgId;
  await replayDeadLetters(nc, [fixed]);
  await waitFor(() => pipeline.scalar(`SELECT count() FROM sluice.events FINAL WHERE key = '${key}'`), (n) => n === 1);
  // RAW's duplicate window drops a replay within 2 minutes; a later one gets a new RAW sequence but the same
  // Nats-Msg-Id, so validate gives it the same event id and EVENTS (10 min window) and the table's key keep one.
  const second = await replayDeadLetters(nc, [{ ...fixed, headers: { ...fixed.headers, [HEADERS.replayCount]: "1" } }]);
  assert.ok(second[0].duplicate);
  await new Promise((r) => setTimeout(r, 2_000));
  assert.is(await pipeline.scalar(`SELECT count() FROM sluice.events FINAL WHERE key = '${key}'`), 1);
  assert.is(await pipeline.scalar(`SELECT count() FROM sluice.events FINAL WHERE event_id = '${eventId}'`), 1);
});

test("data-quality counts reach sluice.dq_results and sluice dq report reads them", async ({ nc, pipeline }) => {
  // A minute's counts go out when the task's first message of a later minute (stream time) arrives:
  // the next reading is published once the minute of the last failure (its RAW time) is over, so
  // the tests before this one have used up part of that minute already.
  const failedSeqs = await waitFor(() => rows(pipeline, "SELECT stream_seq FROM sluice.dead_letters FINAL WHERE stream = 'RAW' AND error_code = 'dq_event_time_fresh'"), (r) => r.length >= 2, 30_000);
  assert.ok(failedSeqs.length >= 2, `the earlier tests left event_time_fresh failures (${failedSeqs.length})`);
  const jsm = await jetstreamManager(nc);
  const failedAt = await Promise.all(failedSeqs.map(async ({ stream_seq }) => {
    const stored = await withDeadline(jsm.streams.getMessage("RAW", { seq: Number(stream_seq) }), { what: `RAW message ${stream_seq}` });
    if (!stored) throw new Error(`RAW message ${stream_seq} of an event_time_fresh dead letter is gone from RAW`);
    return stored.time.getTime();
  }));
  const minuteOver = (Math.floor(Math.max(...failedAt) / 60_000) + 1) * 60_000;
  await new Promise((r) => setTimeout(r, Math.max(0, minuteOver - Date.now() + 200)));
  const key = freshKey("next-minute");
  await jetstream(nc).publish(`raw.iot.${key}`, reading(key));
  const failed = await waitFor(() => pipeline.scalar("SELECT sum(failed) FROM sluice.dq_results FINAL WHERE expectation = 'event_time_fresh'"), (n) => n >= 2);
  assert.ok(failed >= 2, `event_time_fresh failures counted (${failed})`);
  const report = await runQuery(pipeline.clickhouse!.client, dqReportQuery({ sinceMs: Date.now() - 3_600_000 }));
  const row = report.rows.find((r) => r[0] === "iot" && r[1] === "event_time_fresh");
  assert.ok(row, "the report has a row per source and expectation");
  assert.match(String(row![7]), /before ingest/);
});

test.run();
