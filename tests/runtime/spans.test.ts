import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { context, INVALID_TRACEID, propagation, trace, SpanKind } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { NatsServer } from "../harness/nats-server.ts";
import { waitFor } from "../harness/wait.ts";
import { defineActor } from "../../actors/runtime/actor.ts";
import { runActor } from "../../actors/runtime/run.ts";
import { createLogger } from "../../actors/runtime/log.ts";
import { ensureStreams } from "../../subjects/setup.ts";
import { injectContext } from "../../otel/propagation.ts";
import { storedOn, testConsumer } from "./fixtures.ts";

const test = suite<{ nats: NatsServer; nc: NatsConnection }>("durable runtime spans");

test.before(async (ctx) => {
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
  await ensureStreams(await jetstreamManager(ctx.nc));
});
test.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.nats?.stop();
});

test("one batch span links every traced input; only an input with outputs gets a process span, the parent of its outputs", async ({ nc }) => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer("test");
  const { def, subject, name } = testConsumer("spans", 1);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: `OUT${name}`, subjects: [`out.${name}.>`] });

  // Three traced inputs (two emit, one is only acked) and one that carries no trace.
  const producers = [0, 1, 2].map((i) => tracer.startSpan(`send ${i}`, { kind: SpanKind.PRODUCER }));
  const js = jetstream(nc);
  for (const [i, span] of producers.entries()) {
    const h = headers();
    injectContext(h, trace.setSpan(context.active(), span));
    await js.publish(subject, JSON.stringify({ i, emit: i !== 1 }), { headers: h });
    span.end();
  }
  await js.publish(subject, JSON.stringify({ i: 3, emit: true }));
  const traceIds: string[] = [];

  const actor = defineActor({
    name, consumes: def, emits: [], batch: { max_messages: 10, max_wait_ms: 300 },
    handle(batch, ctx) {
      for (const m of batch) {
        traceIds.push(m.traceId);
        const body = JSON.parse(new TextDecoder().decode(m.data)) as { i: number; emit: boolean };
        if (body.emit) ctx.emit(m, { subject: `out.${name}.${body.i}`, data: m.data, msgId: `${name}-${m.seq}` });
      }
    },
  });
  const controller = new AbortController();
  const running = runActor(actor, { nc, log: createLogger("error"), signal: controller.signal, tracerFor: () => tracer });
  const out = await waitFor(() => storedOn(nc, `OUT${name}`, `out.${name}.>`), (s) => s.length === 3, 15_000, 100);
  const finished = () => exporter.getFinishedSpans();
  await waitFor(async () => finished().filter((s) => s.name === `${name} batch`).reduce((n, s) => n + Number(s.attributes["messaging.batch.message_count"]), 0), (n) => n === 4, 10_000, 50);
  controller.abort();
  await running;

  assert.equal(traceIds.slice(0, 3), producers.map((p) => p.spanContext().traceId), "a traced input's trace id is the one it arrived with");
  assert.is(traceIds[3], INVALID_TRACEID, "an input without trace headers has the no-trace id");

  const batches = finished().filter((s) => s.name === `${name} batch`);
  const linked = batches.flatMap((b) => b.links.map((l) => l.context.spanId));
  assert.equal(linked.sort(), producers.map((p) => p.spanContext().spanId).sort(), "the batch spans link each traced input's trace, once");

  const processes = finished().filter((s) => s.name === `${name} process`);
  assert.is(processes.length, 3, "a process span for each input with outputs, none for the one only acked");
  for (const i of [0, 2]) {
    const p = processes.find((s) => s.spanContext().traceId === producers[i].spanContext().traceId);
    assert.ok(p, `input ${i}'s process span is in its trace`);
    assert.is(p!.parentSpanContext?.spanId, producers[i].spanContext().spanId, `input ${i}'s process span is a child of its publish`);
    const output = out.find((m) => m.subject === `out.${name}.${i}`)!;
    assert.is(output.headers.get("traceparent")?.split("-")[2], p!.spanContext().spanId, `output ${i} carries its input's process span`);
  }
  assert.not.ok(processes.some((s) => s.spanContext().traceId === producers[1].spanContext().traceId), "the acked-only input has no process span");
  const untraced = out.find((m) => m.subject === `out.${name}.3`)!;
  assert.ok(untraced.headers.get("traceparent"), "an untraced input's output starts a trace of its own");
  await provider.shutdown();
});

test.run();
