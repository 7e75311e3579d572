// Fields an operator marks x-sluice-pii in a schema of their own (not a shipped one) are protected
// like the shipped ones, and no reason, dead letter, row, exported span or log line quotes them:
// reasons name the field and the rule only, whether the marked field or another one failed (a
// root-level error, which would quote the payload, in tests/validate/validate.test.ts).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../harness/nats-server.ts";
import { publishAll, startTestPipeline } from "../harness/pipeline.ts";
import { streamMessages } from "../harness/run-snapshot.ts";
import { waitFor } from "../harness/wait.ts";
import { startCapture } from "./capture.ts";
import { SchemaRegistry } from "../../subjects/registry/index.ts";
import { SCHEMAS_V2 } from "../../subjects/schemas/index.ts";
import { collect, withDeadline } from "../../nats/deadline.ts";

const SECRETS = { badBadge: "Z-SECRET-BADGE-77", badEmail: "owner.two(at)secret-host", email1: "owner.one@example.com", email3: "owner.three@example.com", email4: "owner.four@example.com", badge4: "B9137" };

test("an operator's iot v3 marks owner_email (encrypt) and badge (tokenize): reasons name field and rule, nothing quotes a value", async () => {
  const capture = await startCapture();
  const nats = await NatsServer.start();
  const nc = await connect({ servers: nats.url });
  try {
    const iot = SCHEMAS_V2.iot as { properties: Record<string, unknown> };
    const v3 = {
      ...SCHEMAS_V2.iot, title: "iot v3 (site staff)",
      properties: { ...iot.properties, owner_email: { type: "string", format: "email", "x-sluice-pii": "encrypt" }, badge: { type: "string", pattern: "^B[0-9]{4}$", "x-sluice-pii": "tokenize" } },
    };
    const registry = await SchemaRegistry.open(nc);
    assert.is((await registry.add("iot", v3)).version, 3);
    await registry.close();
    const pipeline = await startTestPipeline(nats.url, { actors: ["validate", "clickhouse-sink-events", "clickhouse-sink-dlq"], env: { SLUICE_SINK_BATCH_MS: "100" }, tracerFor: capture.telemetry.tracerFor });
    try {
      const ts = new Date(Date.now() - 5_000).toISOString();
      const reading = (id: string, extra: Record<string, unknown>) => ({ subject: "raw.iot.s-u1", body: JSON.stringify({ event_id: id, sensor_id: "s-u1", ts, ...extra }) });
      await publishAll(nc, [
        reading("bad-badge", { temperature: 20, badge: SECRETS.badBadge, owner_email: SECRETS.email1 }),
        reading("bad-email", { temperature: 20, owner_email: SECRETS.badEmail }),
        reading("no-metric", { owner_email: SECRETS.email3, badge: "B1234" }),
        reading("good", { temperature: 21, owner_email: SECRETS.email4, badge: SECRETS.badge4 }),
      ]);
      await waitFor(() => pipeline.scalar("SELECT count() FROM sluice.dead_letters"), (n) => n === 3, 30_000);
      await waitFor(() => pipeline.scalar("SELECT count() FROM sluice.events WHERE event_id = 'good'"), (n) => n === 1, 30_000);
      await capture.telemetry.shutdown();

      const rows = async (sql: string) => (await pipeline.clickhouse!.client.query({ query: sql, format: "JSONEachRow" })).json<Record<string, unknown>>();
      const reasons = Object.fromEntries((await rows("SELECT JSONExtractString(payload, 'event_id') AS id, reason FROM sluice.dead_letters")).map((r) => [r.id, String(r.reason)]));
      assert.match(reasons["bad-badge"], /\/badge: must match pattern "\^B\[0-9\]\{4\}\$" \(got a value not shown: PII\)/);
      assert.match(reasons["bad-email"], /\/owner_email: must match format "email" \(got a value not shown: PII\)/);
      assert.match(reasons["no-metric"], /\/: missing required field "temperature"/, "another field failed: the marked ones are not quoted (scanned below)");
      const [good] = await rows("SELECT payload FROM sluice.events FINAL WHERE event_id = 'good'");
      const payload = JSON.parse(String(good.payload)) as Record<string, string>;
      assert.ok(payload.owner_email.startsWith("enc:v1:") && payload.badge.startsWith("tok_"), JSON.stringify(payload));

      const places: Array<[string, string]> = [];
      for (const stream of ["EVENTS", "DLQ"]) for (const m of await streamMessages(nc, stream)) places.push([`${stream} seq ${m.seq}`, m.data]);
      const dlq = await withDeadline(jetstream(nc).consumers.get("DLQ"), { what: "DLQ consumer" });
      for (const m of await collect(dlq.fetch({ max_messages: 10, expires: 2_000 }), { what: "fetch DLQ" })) places.push([`DLQ seq ${m.seq} headers`, JSON.stringify(Object.fromEntries((m.headers?.keys() ?? []).map((k) => [k, m.headers!.get(k)])))]);
      for (const table of ["dead_letters", "events"]) places.push([`sluice.${table}`, JSON.stringify(await rows(`SELECT * FROM sluice.${table}`))]);
      places.push(["spans", capture.spans.join("\n")], ["logs", capture.logs.join("")]);
      assert.ok(capture.spans.join("").includes("validate"), "validate's spans were exported");
      assert.ok(places.filter(([w]) => w.endsWith("headers")).length === 3, "three dead letters' headers read");
      for (const [where, text] of places) for (const [name, value] of Object.entries(SECRETS)) assert.not.ok(text.includes(value), `${where} holds ${name}`);
      const raw = (await streamMessages(nc, "RAW")).map((m) => m.data).join("\n");
      assert.ok(Object.values(SECRETS).every((v) => raw.includes(JSON.stringify(v).slice(1, -1))), "RAW holds them all (the scan can find them)");
      assert.is((await (await jetstreamManager(nc)).streams.info("DLQ")).state.messages, 3);
    } finally {
      await pipeline.cleanup();
    }
  } finally {
    await capture.stop();
    await nc.close();
    await nats.stop();
  }
});

test.run();
