import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { SpanKind, context, trace } from "@opentelemetry/api";
import { NatsServer } from "../harness/nats-server.ts";
import { startTestPipeline, type TestPipeline } from "../harness/pipeline.ts";
import { waitFor } from "../harness/wait.ts";
import { injectContext, startTelemetry, type Telemetry } from "../../otel/index.ts";

interface ReceivedSpan { traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number; service: string; attributes: Record<string, unknown>; links: Array<{ traceId: string; spanId: string }> }

/** A stand-in for Jaeger's OTLP/HTTP endpoint: keeps every span it is sent. */
function otlpReceiver(): Promise<{ server: Server; url: string; spans: ReceivedSpan[] }> {
  const spans: ReceivedSpan[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      const doc = JSON.parse(body) as { resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }; scopeSpans: Array<{ spans: Array<Record<string, unknown>> }> }> };
      for (const rs of doc.resourceSpans) {
        const service = rs.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue ?? "";
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            const attributes: Record<string, unknown> = {};
            for (const a of (s.attributes as Array<{ key: string; value: Record<string, unknown> }>) ?? []) attributes[a.key] = Object.values(a.value)[0];
            const links = ((s.links as Array<{ traceId: unknown; spanId: unknown }>) ?? []).map((l) => ({ traceId: String(l.traceId), spanId: String(l.spanId) }));
            spans.push({ traceId: String(s.traceId), spanId: String(s.spanId), parentSpanId: s.parentSpanId ? String(s.parentSpanId) : undefined, name: String(s.name), kind: Number(s.kind), service, attributes, links });
          }
        }
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, spans, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })));
}

const test = suite<{ nats: NatsServer; nc: NatsConnection; pipeline: TestPipeline; telemetry: Telemetry; receiver: Awaited<ReturnType<typeof otlpReceiver>> }>("traces");

test.before(async (ctx) => {
  ctx.receiver = await otlpReceiver();
  ctx.telemetry = startTelemetry({ endpoint: ctx.receiver.url, log: () => undefined });
  ctx.nats = await NatsServer.start();
  ctx.pipeline = await startTestPipeline(ctx.nats.url, { actors: ["validate", "clickhouse-sink-events"], tracerFor: ctx.telemetry.tracerFor, env: { SLUICE_SINK_BATCH_MS: "100" } });
  ctx.nc = await connect({ servers: ctx.nats.url });
});
test.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.pipeline?.cleanup();
  await ctx.nats?.stop();
  ctx.receiver?.server.close();
});

test("one trace joins the raw publish and validate spans of an event, the sink's batch span links to it, and the row keeps its trace id", async ({ nc, pipeline, telemetry, receiver }) => {
  const producer = telemetry.tracerFor("test-producer");
  const span = producer.startSpan("send raw.iot.traced-1", { kind: SpanKind.PRODUCER });
  const h = headers();
  injectContext(h, trace.setSpan(context.active(), span));
  nc.publish("raw.iot.traced-1", JSON.stringify({ sensor_id: "traced-1", ts: "2026-11-27T10:00:00Z", temperature: 36.6, site: "secret-lab" }), { headers: h });
  span.end();
  await nc.flush();
  const traceId = span.spanContext().traceId;

  const rowTrace = await waitFor(async () => {
    const rs = await pipeline.clickhouse!.client.query({ query: "SELECT trace_id FROM sluice.events FINAL WHERE key = 'traced-1'", format: "JSONEachRow" });
    return ((await rs.json()) as Array<{ trace_id: string }>)[0]?.trace_id ?? "";
  }, (id) => id !== "");
  assert.is(rowTrace, traceId, "the row's trace_id is the producer's trace");

  await telemetry.shutdown();
  const inTrace = await waitFor(async () => receiver.spans.filter((s) => s.traceId === traceId), (s) => s.length >= 2, 10_000);
  const services = new Set(inTrace.map((s) => s.service));
  assert.ok(services.has("sluice-test-producer"), [...services].join(","));
  assert.ok(services.has("sluice-validate"), [...services].join(","));

  const validate = inTrace.find((s) => s.service === "sluice-validate" && s.name === "validate process")!;
  assert.is(validate.parentSpanId, span.spanContext().spanId, "validate's span is a child of the publish");
  assert.is(validate.kind, 5, "CONSUMER");
  assert.is(validate.attributes["messaging.system"], "nats");
  assert.is(validate.attributes["messaging.destination.name"], "raw.iot.traced-1");
  assert.ok(Number(validate.attributes["messaging.nats.stream_sequence"]) >= 1);
  // The sink stores a batch with one span, linked to each event's trace (no span per row).
  const sink = receiver.spans.find((s) => s.service === "sluice-clickhouse-sink-events" && s.links.some((l) => l.traceId === traceId));
  assert.ok(sink, "a sink span links to the event's trace");
  assert.is(sink!.name, "clickhouse-sink-events batch");
  assert.is(sink!.kind, 5, "CONSUMER");
  assert.ok(sink!.links.some((l) => l.traceId === traceId && l.spanId === validate.spanId), "the link points at validate's span of the event");
  assert.ok(Number(sink!.attributes["messaging.batch.message_count"]) >= 1);
  assert.not.ok(receiver.spans.some((s) => s.service === "sluice-clickhouse-sink-events" && s.name.endsWith("process")), "no span per stored row");

  const everything = JSON.stringify(receiver.spans);
  assert.not.ok(everything.includes("secret-lab") || everything.includes("36.6"), "no payload field reaches a span");
});

test.run();
