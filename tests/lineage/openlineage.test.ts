// OpenLineage run events of a running pipeline, received by a Marquez-compatible HTTP endpoint and
// written to a file, each validated against the spec's JSON schema (the subset in
// openlineage.schema.json): START, RUNNING, FAIL after a restart and a new run, COMPLETE at stop,
// with each actor's input and output datasets and their schema facets.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { NatsServer } from "../harness/nats-server.ts";
import { validReadings } from "../harness/events.ts";
import { publishAll, startTestPipeline, type TestPipeline } from "../harness/pipeline.ts";
import { waitFor } from "../harness/wait.ts";
import { startPipelineLineage } from "../../cli/lineage.ts";
import { namespaceOf, startOpenLineage, transportFor, type RunEvent } from "../../lineage/openlineage.ts";
import { pipelineTopology } from "../../actors/topology.ts";
import { allMetrics, metricsFor } from "../../actors/runtime/metrics.ts";
import { createLogger } from "../../actors/runtime/log.ts";
import schema from "./openlineage.schema.json" with { type: "json" };

const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv);
const validate = ajv.compile(schema);

const test = suite<{ nats: NatsServer; nc: NatsConnection; pipeline: TestPipeline; server: Server; received: RunEvent[]; paths: string[] }>("openlineage");

test.before(async (ctx) => {
  ctx.received = [];
  ctx.paths = [];
  ctx.server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      ctx.paths.push(`${req.method} ${req.url}`);
      ctx.received.push(JSON.parse(body) as RunEvent);
      res.writeHead(201).end();
    });
  });
  await new Promise<void>((resolve) => ctx.server.listen(0, "127.0.0.1", resolve));
  const port = (ctx.server.address() as AddressInfo).port;
  ctx.nats = await NatsServer.start();
  ctx.pipeline = await startTestPipeline(ctx.nats.url, { env: { SLUICE_SINK_BATCH_MS: "200", OPENLINEAGE_URL: `http://127.0.0.1:${port}` } });
  ctx.nc = await connect({ servers: ctx.nats.url });
});

test.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.pipeline?.cleanup();
  await ctx.nats?.stop();
  await new Promise((resolve) => ctx.server?.close(resolve));
});

function check(events: readonly RunEvent[]): void {
  for (const e of events) assert.ok(validate(e), `${e.eventType} ${e.job?.name}: ${ajv.errorsText(validate.errors)}`);
}

test("each actor's run: START with its datasets, RUNNING with counters, FAIL and a new run after a restart, COMPLETE; all valid OpenLineage", async ({ nc, pipeline, received, paths }) => {
  const log = createLogger("warn");
  const file = join(mkdtempSync(join(tmpdir(), "sluice-openlineage-")), "events.ndjson");
  const topology = pipelineTopology(pipeline.config.partitions);
  const toFile = await startOpenLineage({ topology, transport: transportFor(pathToFileURL(file).href), metrics: allMetrics, namespaces: { nats: namespaceOf(nc.getServer(), "nats://x"), clickhouse: "clickhouse://embedded" }, everyMs: 3_600_000, log });
  const emitter = (await startPipelineLineage({ config: pipeline.config, natsUrl: `nats://${nc.getServer().replace(/^nats:\/\//, "")}`, clickhouse: pipeline.clickhouse!.client, log }))!;
  assert.ok(emitter, "OPENLINEAGE_URL set: the emitter runs");
  const actors = topology.actors.map((a) => a.name);
  await waitFor(async () => received.length, (n) => n >= actors.length, 5_000, 50);
  assert.equal(received.map((e) => e.eventType), actors.map(() => "START"));
  assert.ok(paths.every((p) => p === "POST /api/v1/lineage"), paths.join(", "));

  await publishAll(nc, validReadings(50, Date.now() - 60_000));
  await waitFor(() => pipeline.scalar("SELECT count() FROM sluice.events FINAL"), (n) => n >= 50);
  await emitter.tick();
  // A crash as the supervisor counts it: the run fails and the restarted actor is a new run.
  metricsFor("window").restarts++;
  await emitter.tick();
  await emitter.stop();
  await toFile.stop();
  check(received);

  const byActor = (name: string) => received.filter((e) => e.job.name === name);
  const validate_ = byActor("validate");
  assert.equal(validate_.map((e) => e.eventType), ["START", "RUNNING", "RUNNING", "COMPLETE"]);
  assert.is(new Set(validate_.map((e) => e.run.runId)).size, 1, "one run");
  assert.equal(validate_[0].inputs.map((d) => d.name), ["RAW"]);
  assert.equal(validate_[0].outputs.map((d) => d.name), ["EVENTS", "DLQ", "DQ"]);
  assert.is(validate_[0].inputs[0].namespace, `nats://${nc.getServer().replace(/^nats:\/\//, "")}`);
  const progress = validate_[1].run.facets?.sluice_progress as { acked: number };
  assert.ok(progress.acked >= 50, `counters in the RUNNING event: ${JSON.stringify(progress)}`);

  const windowRuns = byActor("window");
  assert.equal(windowRuns.map((e) => e.eventType), ["START", "RUNNING", "FAIL", "START", "COMPLETE"]);
  assert.is.not(windowRuns[3].run.runId, windowRuns[0].run.runId, "a new run after the restart");
  assert.is(windowRuns[2].run.runId, windowRuns[0].run.runId);
  assert.is(windowRuns[4].run.runId, windowRuns[3].run.runId);
  assert.match(JSON.stringify(windowRuns[2].run.facets?.errorMessage), /restarted/);

  const sink = byActor("clickhouse-sink-events")[0];
  assert.equal(sink.outputs.map((d) => [d.namespace, d.name]), [["clickhouse://embedded", "sluice.events"]]);
  const tableFields = (sink.outputs[0].facets?.schema as { fields: Array<{ name: string }> }).fields.map((f) => f.name);
  for (const column of ["event_id", "raw_subject", "raw_seq", "trace_id"]) assert.ok(tableFields.includes(column), `sluice.events schema facet has ${column}`);
  const eventsFields = (sink.inputs[0].facets?.schema as { fields: Array<{ name: string }> }).fields.map((f) => f.name);
  assert.ok(eventsFields.includes("payload") && eventsFields.includes("raw_seq"), "EVENTS schema facet");

  const lines = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as RunEvent);
  check(lines);
  assert.equal(lines.map((e) => e.eventType), [...actors.map(() => "START"), ...actors.map(() => "COMPLETE")]);
  // The schema catches a malformed event: the check above can fail.
  assert.not.ok(validate({ ...lines[0], run: { runId: "not-a-uuid" } }));
});

test.run();
