import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { TestMessage } from "../harness/events.ts";
import { publishAll, type TestPipeline } from "../harness/pipeline.ts";
import { waitFor } from "../harness/wait.ts";
import { windowId } from "../../windowing/index.ts";
import { lateEventsEmitted, sourceWatermarks } from "../../actors/window/metrics.ts";
import { BASE, settle, startEnv, startWindow, type Env } from "./helpers.ts";

const KEY = "sensor-late";
const at = (min: number, sec = 0) => BASE + min * 60_000 + sec * 1000;
const reading = (t: number, temperature = 20): TestMessage => ({
  subject: `raw.iot.${KEY}`,
  body: JSON.stringify({ sensor_id: KEY, ts: new Date(t).toISOString(), temperature, event_id: `${KEY}-${t}-${temperature}` }),
});
const range = (from: number, to: number) => Array.from({ length: (to - from) / 10_000 + 1 }, (_, i) => reading(from + i * 10_000));

// The partition's watermark is its newest event time minus iot's 5 s bound; lateness is 1 minute.
const C = reading(at(5, 30), 30); // W 10:06:55: [10:05,10:06) may still change; bridges the two sessions
const A = reading(at(8, 30), 30); // W 10:09:55: [10:08,10:09) has fired and may still change → version 2
const B = reading(at(2, 30), 30); // W 10:09:55: [10:02,10:03) closed at 10:04 → late_events
const input = [...range(at(0), at(4)), reading(at(7)), C, ...range(at(7, 10), at(10)), A, B];
const flushAll: TestMessage = { subject: `raw.iot.${KEY}`, body: JSON.stringify({ sensor_id: KEY, ts: new Date(at(180)).toISOString(), pressure: 1000 }) };

const test = suite<{ env: Env; window: TestPipeline }>("windows: late data, never silent");
test.before(async (ctx) => {
  ctx.env = await startEnv();
  ctx.window = await startWindow(ctx.env);
  await publishAll(ctx.env.nc, [...input, flushAll]);
  await settle(ctx.env, input.length + 1);
  await waitFor(() => ctx.env.pipeline.scalar("SELECT count() FROM sluice.late_events"), (n) => n >= 1, 20_000);
});
test.after(async (ctx) => {
  await ctx.window?.cleanup();
  await ctx.env?.close();
});

const tumbling = (minute: number) => windowId("iot", "tumbling", KEY, "temperature", at(minute), at(minute + 1));

test("within allowed lateness: the fired window comes back as version 2 with the event", async ({ env }) => {
  const rows = await env.pipeline.clickhouse!.client.query({
    query: `SELECT count, max, version FROM sluice.windows WHERE window_id = '${tumbling(8)}'`, format: "JSONEachRow",
  });
  assert.equal(await rows.json(), [{ count: 7, max: 30, version: 2 }]);
});

test("beyond allowed lateness: in sluice.late_events with the window it missed, and counted", async ({ env }) => {
  const rs = await env.pipeline.clickhouse!.client.query({
    query: `SELECT event_id, reason, window_ids, toUnixTimestamp(watermark) AS wm FROM sluice.late_events WHERE key = '${KEY}'`, format: "JSONEachRow",
  });
  const late = (await rs.json()) as Array<{ event_id: string; reason: string; window_ids: string[]; wm: number }>;
  assert.is(late.length, 1, JSON.stringify(late));
  assert.is(late[0].event_id, `${KEY}-${at(2, 30)}-30`);
  assert.is(late[0].reason, "beyond_allowed_lateness");
  assert.ok(late[0].window_ids.includes(tumbling(2)), late[0].window_ids.join(","));
  assert.is(late[0].wm, Math.floor((at(10) - 5_000) / 1000));
  assert.ok(lateEventsEmitted() >= 1, "late counter");
  const iot = sourceWatermarks().find((s) => s.source === "iot");
  assert.ok(iot && iot.late_events >= 1, JSON.stringify(iot));
});

test("every event is in a window version or in late_events", async ({ env }) => {
  const counted = await env.pipeline.scalar(`SELECT sum(count) FROM sluice.windows WHERE kind = 'tumbling' AND key = '${KEY}' AND metric = 'temperature'`);
  const late = await env.pipeline.scalar(`SELECT count() FROM sluice.late_events WHERE key = '${KEY}' AND has(window_ids, '${tumbling(2)}')`);
  assert.is(counted + late, input.length, `${counted} counted + ${late} late`);
});

test("a late event that moves an emitted session's bounds leaves one session row, the old bounds deleted", async ({ env }) => {
  const sessions = await env.pipeline.clickhouse!.client.query({
    query: `SELECT toUnixTimestamp(window_start) AS s, toUnixTimestamp(window_end) AS e, count, version FROM sluice.windows
            WHERE kind = 'session' AND key = '${KEY}' AND metric = 'temperature'`,
    format: "JSONEachRow",
  });
  const rows = (await sessions.json()) as Array<{ s: number; e: number; count: number; version: number }>;
  assert.is(rows.length, 1, JSON.stringify(rows));
  assert.is(rows[0].count, input.length, "every event, the two late ones too, is in the one session");
  assert.is(rows[0].s, at(0) / 1000);
  assert.is(rows[0].e, (at(10) + 120_000) / 1000);
  assert.ok(rows[0].version >= 2);
  const deleted = await env.pipeline.scalar(`SELECT count() FROM sluice.window_aggregates FINAL WHERE kind = 'session' AND key = '${KEY}' AND count = 0`);
  assert.ok(deleted >= 1, "the first version's bounds are replaced by a deleted row");
});

test("the watermark and its lag are exported per source", async () => {
  const iot = sourceWatermarks().find((s) => s.source === "iot")!;
  assert.is(iot.watermark, at(180) - 5_000, "the newest event time minus the bound (tasks without a watermark yet are left out)");
  assert.ok(iot.lag_ms !== null && Math.abs(iot.lag_ms - (Date.now() - iot.watermark!)) < 60_000);
});

test.run();
