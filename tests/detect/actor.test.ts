import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { NatsServer } from "../harness/nats-server.ts";
import { publishAll, startTestPipeline, streamCount, type TestPipeline } from "../harness/pipeline.ts";
import { waitFor } from "../harness/wait.ts";
import { metricsFor } from "../../actors/runtime/metrics.ts";
import { alertsOnStream } from "./helpers.ts";

const test = suite<{ nats: NatsServer; nc: NatsConnection; pipeline: TestPipeline }>("detect actor on a real nats-server and chDB");
const T0 = Date.UTC(2026, 10, 27, 8, 0, 0);
const READINGS = 400;
const SPIKE = 350;

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  ctx.pipeline = await startTestPipeline(ctx.nats.url, { actors: ["validate", "clickhouse-sink-events", "detect", "clickhouse-sink-anomalies"] });
  ctx.nc = await connect({ servers: ctx.nats.url });
});

test.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.pipeline?.cleanup();
  await ctx.nats?.stop();
});

test("a spike in a sensor's readings becomes an alert on ALERTS and a sluice.anomalies row linked to its event and trace", async ({ nc, pipeline }) => {
  const messages = Array.from({ length: READINGS }, (_, i) => {
    const temperature = i === SPIKE ? 55 : 21 + Math.sin(i / 15) + ((i * 7919) % 17) / 40;
    return {
      subject: "raw.iot.probe-1",
      body: JSON.stringify({ sensor_id: "probe-1", event_id: `probe-1-${i}`, ts: new Date(T0 + i * 10_000).toISOString(), temperature: Number(temperature.toFixed(2)) }),
    };
  });
  await publishAll(nc, messages);
  // Published twice: validate stores each event once, and detect scores it once.
  await publishAll(nc, messages.slice(300));
  await waitFor(() => pipeline.scalar("SELECT count() FROM sluice.anomalies WHERE event_id = 'probe-1-350'"), (n) => n >= 1, 60_000);

  // Exactly once, without FINAL: one message per alert identity on ALERTS, one row per alert in sluice.anomalies.
  const stream = await alertsOnStream(nc);
  assert.ok(stream.size >= 1, "an alert was published on ALERTS");
  for (const [id, bodies] of stream) assert.is(bodies.length, 1, `ALERTS holds ${id} once`);
  const rowsOf = (from: string) => waitFor(() => pipeline.scalar(`SELECT count() FROM ${from}`), (n) => n >= stream.size, 30_000);
  assert.is(await rowsOf("sluice.anomalies"), stream.size, `sluice.anomalies without FINAL: one row per ALERTS message (${[...stream.keys()].join(", ")})`);
  assert.is(await pipeline.scalar("SELECT uniqExact(event_id, metric, signal) FROM sluice.anomalies"), stream.size, "and no alert twice");
  assert.ok([...stream.keys()].some((id) => id.endsWith(":probe-1-350:temperature")), `the spike is an alert: ${[...stream.keys()].join(", ")}`);
  // A spike is both a jump and a novel pattern: one alert (the stronger signal, the other in `also`), one row.
  assert.is(await pipeline.scalar("SELECT count() FROM sluice.anomalies WHERE event_id = 'probe-1-350'"), 1);
  assert.is(await pipeline.scalar("SELECT count() FROM sluice.anomalies FINAL"), stream.size, "FINAL collapses nothing");

  const linked = await pipeline.scalar(`SELECT count() FROM sluice.anomalies AS a
    INNER JOIN (SELECT event_id, trace_id FROM sluice.events FINAL) AS e ON a.event_id = e.event_id
    WHERE a.event_id = 'probe-1-350' AND a.trace_id = e.trace_id AND length(a.trace_id) = 32`);
  assert.is(linked, 1, "the anomaly carries the trace id of the event's row");
  const observed = await pipeline.scalar("SELECT any(observed) FROM sluice.anomalies WHERE event_id = 'probe-1-350'");
  assert.is(observed, 55);
  const explained = await pipeline.scalar("SELECT countIf(metric = 'temperature' AND score >= 0.5 AND expected_high < 55 AND (JSONHas(explanation, 'context') OR JSONHas(explanation, 'usualStep'))) FROM sluice.anomalies WHERE event_id = 'probe-1-350'");
  assert.is(explained, 1, "metric, score, expected range and explanation are stored");
  const falseAlarms = await pipeline.scalar("SELECT count() FROM sluice.anomalies WHERE key = 'probe-1' AND event_time < toDateTime(" + Math.floor((T0 + SPIKE * 10_000) / 1000) + ")");
  assert.is(falseAlarms, 0, "no alert before the spike");
  assert.ok(metricsFor("detect").received >= READINGS, "detect saw every event");
});

test("a message detect cannot read is dead-lettered, not dropped", async ({ nc }) => {
  nc.publish("events.iot.0", "not json");
  await nc.flush();
  const dead = await waitFor(async () => metricsFor("detect").deadLettered, (n) => n >= 1, 20_000);
  assert.is(dead, 1);
  const { jetstreamManager } = await import("@nats-io/jetstream");
  const msg = await (await jetstreamManager(nc)).streams.getMessage("DLQ", { last_by_subj: "dlq.detect.iot" });
  assert.is(msg?.header?.get("Sluice-Error-Code"), "json");
});

test.run();
