// "Done when" of issue 10, PII half: payments and posts with known personal values go through the
// pipeline (valid events, a dead letter, a late event, an anomaly, a restart and a key rotation);
// afterwards no stream but RAW, no ClickHouse table, no exported span and no log line holds a clear value.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../harness/nats-server.ts";
import { connectAsClient } from "../harness/roles.ts";
import { ClickHouseServer } from "../harness/clickhouse-server.ts";
import { publishAll, startTestPipeline, type TestPipeline } from "../harness/pipeline.ts";
import { streamMessages } from "../harness/run-snapshot.ts";
import { waitFor } from "../harness/wait.ts";
import { startCapture, type Capture } from "./capture.ts";
import { SchemaRegistry } from "../../subjects/registry/index.ts";
import { SCHEMAS_V2 } from "../../subjects/schemas/index.ts";
import { decrypt, luhn, newKeyring, parseKeyring, PiiDecryptError, rotateKeyring, total, writeKeyring, type Keyring } from "../../pii/index.ts";
import { decryptEvent, scanStores } from "../../cli/pii.ts";
import { createApp } from "../../api/app.ts";
import { clickhouseRows } from "../../api/deps.ts";
import { natsDeadLetters } from "../../api/dlq.ts";
import { natsRawReader } from "../../lineage/raw.ts";
import { allMetrics } from "../../actors/runtime/metrics.ts";
import { NOT_SHOWN_RAW } from "../../pii/index.ts";

const MINUTE = 60_000;
/** A Luhn-valid Visa number: the check digit computed, not typed. */
const CARD = (() => {
  const body = "453957876362148";
  for (let d = 0; d <= 9; d++) if (luhn(body + d)) return body + d;
  throw new Error("no check digit");
})();
const EMAIL = "ada.lovelace@example.org";
const PHONE = "+447700900123";
const LAT = 51.50735, LON = -0.12776;
/** Where the card is used next: a location jump that detect flags. */
const FAR_LAT = -33.86785, FAR_LON = 151.20732;
const IP = "203.0.113.77";
/** What must appear nowhere but RAW (the coordinates as JSON prints them). */
const CLEAR = [CARD, CARD.replace(/(\d{4})(?=\d)/g, "$1-"), EMAIL, PHONE, "447700900123", String(LAT), String(LON), String(FAR_LAT), String(FAR_LON), IP];

const test = suite<{
  nats: NatsServer; ch: ClickHouseServer; nc: NatsConnection; capture: Capture;
  dir: string; keyringPath: string; env: Record<string, string>; pipeline?: TestPipeline;
}>("pii end to end");

test.before(async (ctx) => {
  ctx.capture = await startCapture();
  [ctx.nats, ctx.ch] = await Promise.all([NatsServer.start(), ClickHouseServer.start()]);
  ctx.nc = await connect({ servers: ctx.nats.url });
  ctx.dir = mkdtempSync(join(tmpdir(), "sluice-pii-"));
  ctx.keyringPath = join(ctx.dir, "keyring.json");
  writeKeyring(ctx.keyringPath, newKeyring());
  // Debug logging: every line the actors write is scanned.
  ctx.env = { SLUICE_KEYRING: ctx.keyringPath, SLUICE_PARTITIONS: "1", SLUICE_SINK_BATCH_MS: "100", SLUICE_LOG_LEVEL: "debug" };
  // The shipped v2 schemas (x-sluice-pii) are the current versions from the registry's start.
  const registry = await SchemaRegistry.open(ctx.nc);
  assert.equal([registry.get("txn", registry.current("txn"))?.schema, registry.get("social", registry.current("social"))?.schema], [SCHEMAS_V2.txn, SCHEMAS_V2.social]);
  await registry.close();
});

test.after(async (ctx) => {
  await ctx.capture?.stop();
  await ctx.pipeline?.cleanup();
  await ctx.nc?.close();
  await ctx.nats?.stop();
  await ctx.ch?.stop();
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

const start = (ctx: { nats: NatsServer; ch: ClickHouseServer; env: Record<string, string>; capture: Capture }) =>
  startTestPipeline(ctx.nats.url, { clickhouseUrl: ctx.ch.url, env: ctx.env, tracerFor: ctx.capture.telemetry.tracerFor, actors: ["validate", "window", "clickhouse-sink-events", "clickhouse-sink-dlq", "clickhouse-sink-agg", "clickhouse-sink-dq", "clickhouse-sink-late", "detect", "clickhouse-sink-anomalies"] });

const payment = (customer: string, ms: number, extra: Record<string, unknown> = {}) => ({
  subject: `raw.txn.${customer}`,
  body: JSON.stringify({ event_id: `pay-${customer}-${ms}`, customer_id: customer, merchant_id: "m-gb-1", amount: 12.5, currency: "GBP", country: "GB", channel: "online", card_number: CARD, email: EMAIL, phone: PHONE, lat: LAT, lon: LON, ts: new Date(ms).toISOString(), ...extra }),
});

/** Waits for a count to satisfy `done`; fails naming the query when it does not in time. */
async function until(p: TestPipeline, sql: string, done: (n: number) => boolean): Promise<void> {
  const n = await waitFor(() => p.scalar(sql), done, 30_000);
  assert.ok(done(n), `${sql}: ${n}`);
}

const rowsOf = async (p: TestPipeline, sql: string) => (await p.clickhouse!.client.query({ query: sql, format: "JSONEachRow" })).json<Record<string, unknown>>();
const ring = (path: string): Keyring => parseKeyring(readFileSync(path, "utf8"), path);

test("known PII through valid, dead-lettered, late and flagged events, a restart and a rotation: clear only in RAW", async (ctx) => {
  ctx.pipeline = await start(ctx);
  const base = Math.floor((Date.now() - 30 * MINUTE) / MINUTE) * MINUTE;
  await publishAll(ctx.nc, [
    ...Array.from({ length: 20 }, (_, i) => payment("cust-1", base + i * 1_000)),
    ...Array.from({ length: 5 }, (_, i) => ({ subject: "raw.social.ada", body: JSON.stringify({ event_id: `post-${i}`, user_id: "ada", topic: "maths", text: "notes on the engine", device_ip: IP, ts: new Date(base + i * 1_000).toISOString() }) })),
    // Dead letters: a schema failure on the card itself (dashes), and one on another field.
    payment("cust-1", base + 30_000, { event_id: "bad-card", card_number: CARD.replace(/(\d{4})(?=\d)/g, "$1-") }),
    payment("cust-1", base + 31_000, { event_id: "bad-amount", amount: "lots" }),
    // And one with no key in its subject: dead-lettered by validate's task for malformed subjects, protected by txn's rules all the same.
    { subject: "raw.txn", body: payment("cust-1", base + 32_000, { event_id: "no-key" }).body },
    // In person in London four times, then on the other side of the world: detect's location-jump.
    ...Array.from({ length: 4 }, (_, i) => payment("cust-4", base + 40_000 + i * 1_000, { event_id: `shop-${i}`, channel: "card_present" })),
    payment("cust-4", base + 45_000, { event_id: "jump-pay", channel: "card_present", country: "AU", lat: FAR_LAT, lon: FAR_LON }),
  ]);
  // The watermark moves past the first minute; then a payment of that minute arrives late.
  await publishAll(ctx.nc, [payment("cust-1", Date.now() - MINUTE, { event_id: "flush" })]);
  await until(ctx.pipeline!, "SELECT count() FROM sluice.events WHERE event_id = 'flush'", (n) => n === 1);
  await publishAll(ctx.nc, [payment("cust-1", base + 5_500, { event_id: "late-pay" })]);
  await until(ctx.pipeline!, "SELECT count() FROM sluice.late_events WHERE event_id = 'late-pay'", (n) => n >= 1);
  await until(ctx.pipeline!, "SELECT count() FROM sluice.events WHERE event_id = 'late-pay'", (n) => n === 1);
  await until(ctx.pipeline!, "SELECT count() FROM sluice.dead_letters", (n) => n === 3);
  // The anomaly, found by detect, explains itself with the customer's recent place (as stored: generalized).
  await until(ctx.pipeline!, "SELECT count() FROM sluice.anomalies WHERE event_id = 'jump-pay' AND signal = 'location-jump'", (n) => n === 1);
  const [jump] = await rowsOf(ctx.pipeline, "SELECT explanation FROM sluice.anomalies WHERE event_id = 'jump-pay' AND signal = 'location-jump'");
  assert.equal((JSON.parse(String(jump.explanation)) as { nearest_recent: number[] }).nearest_recent, [51.5, -0.1]);
  const [late] = await rowsOf(ctx.pipeline, "SELECT payload FROM sluice.events FINAL WHERE event_id = 'late-pay'");
  const stored = JSON.parse(String(late.payload)) as Record<string, unknown>;

  // What EVENTS carries: a token, a ciphertext, a mask and a 0.1-degree grid; the device IP tokenized.
  const token = String(stored.card_number);
  assert.ok(token.startsWith("tok_"), token);
  assert.equal([stored.phone, stored.lat, stored.lon], ["*********0123", 51.5, -0.1]);
  assert.is(decrypt(String(stored.email), "email", ring(ctx.keyringPath)), EMAIL);
  const [post] = await rowsOf(ctx.pipeline, "SELECT payload FROM sluice.events FINAL WHERE event_id = 'post-0'");
  assert.ok(String(JSON.parse(String(post.payload)).device_ip).startsWith("tok_"));
  const [bad] = await rowsOf(ctx.pipeline, "SELECT reason FROM sluice.dead_letters WHERE position(reason, 'card_number') > 0 LIMIT 1");
  assert.match(String(bad?.reason), /card_number.*a value not shown: PII/, "the reason names the field and the rule");

  // A restart: the same card gives the same token.
  await ctx.pipeline.cleanup();
  ctx.pipeline = await start(ctx);
  await publishAll(ctx.nc, [payment("cust-2", Date.now() - 30_000, { event_id: "after-restart" })]);
  await until(ctx.pipeline!, "SELECT count() FROM sluice.events WHERE event_id = 'after-restart'", (n) => n === 1);
  const [again] = await rowsOf(ctx.pipeline, "SELECT payload FROM sluice.events FINAL WHERE event_id = 'after-restart'");
  assert.is(JSON.parse(String(again.payload)).card_number, token, "tokens are stable across restarts");

  // A rotation: new rows encrypt with k2, old and new rows decrypt with the rotated keyring.
  writeKeyring(ctx.keyringPath, rotateKeyring(ring(ctx.keyringPath)));
  await ctx.pipeline.cleanup();
  ctx.pipeline = await start(ctx);
  await publishAll(ctx.nc, [payment("cust-3", Date.now() - 20_000, { event_id: "after-rotation" })]);
  await until(ctx.pipeline!, "SELECT count() FROM sluice.events WHERE event_id = 'after-rotation'", (n) => n === 1);
  const rows = async (sql: string) => rowsOf(ctx.pipeline!, sql);
  const rotated = ring(ctx.keyringPath);
  const [fresh] = await rows("SELECT payload FROM sluice.events FINAL WHERE event_id = 'after-rotation'");
  assert.ok(String(JSON.parse(String(fresh.payload)).email).startsWith("enc:v1:k2:"));
  assert.equal((await decryptEvent(rows, "after-rotation", rotated)).fields, { email: EMAIL });
  assert.equal((await decryptEvent(rows, "late-pay", rotated)).fields, { email: EMAIL });
  try {
    await decryptEvent(rows, "late-pay", undefined);
    assert.unreachable("decrypts without a key");
  } catch (err) {
    assert.ok(err instanceof PiiDecryptError && /needs key k1/.test(err.message) && !err.message.includes(EMAIL), String(err));
  }
  await ctx.capture.telemetry.shutdown();

  // The scan: every stream but RAW and every table clean; RAW still holds the values (the check can fail).
  // As `sluice pii scan` runs: signed in as its generated user (admin, the one role that reads RAW's clear values).
  const scanner = await connectAsClient(ctx.nats, "sluice:pii-scan");
  const findings = await scanStores({ nc: scanner, rows }).finally(() => scanner.close());
  const dirty = findings.filter((f) => !(f.store === "stream" && f.name === "RAW") && total(f.counts) > 0);
  assert.equal(dirty, [], JSON.stringify(dirty));
  assert.ok(total(findings.find((f) => f.name === "RAW")!.counts) > 0, "RAW holds clear values, as the scan reports");
  assert.ok(findings.some((f) => f.name === "sluice.events" && f.scanned >= 20) && findings.some((f) => f.name === "DLQ" && f.scanned === 3));

  // And the exact values: nowhere in any stream but RAW (bodies and headers), any table, span or log line.
  const names: string[] = [];
  for await (const name of (await jetstreamManager(ctx.nc)).streams.names()) names.push(name);
  const places: Array<[string, string]> = [];
  for (const name of names.filter((n) => n !== "RAW")) for (const m of await streamMessages(ctx.nc, name)) places.push([`${name} seq ${m.seq}`, m.data]);
  for (const m of await (async () => {
    const sub = await jetstream(ctx.nc).consumers.get("DLQ");
    const got: string[] = [];
    const msgs = await sub.fetch({ max_messages: 10, expires: 2_000 });
    for await (const msg of msgs) got.push(JSON.stringify(Object.fromEntries((msg.headers?.keys() ?? []).map((k) => [k, msg.headers!.get(k)]))));
    return got;
  })()) places.push(["DLQ headers", m]);
  const tables = await rows("SELECT name FROM system.tables WHERE database = 'sluice' AND engine NOT IN ('View', 'MaterializedView')");
  for (const { name } of tables) places.push([`sluice.${name}`, JSON.stringify(await rows(`SELECT * FROM sluice.\`${name}\``))]);
  // What the HTTP API answers a viewer: anomalies, dead letters, and an event's lineage with its raw message.
  const app = createApp({ rows: clickhouseRows(() => ctx.pipeline!.clickhouse!.client), metrics: allMetrics, pingNats: async () => undefined, pingClickHouse: async () => undefined, deadLetters: natsDeadLetters(ctx.nc), raw: natsRawReader(ctx.nc) });
  for (const route of ["/v1/anomalies?since=24h", "/v1/dlq", "/v1/lineage/events/late-pay", "/v1/lineage/events/jump-pay"]) {
    const res = await app.request(route);
    assert.is(res.status, 200, route);
    places.push([`GET ${route}`, await res.text()]);
  }
  const lineage = await (await app.request("/v1/lineage/events/late-pay")).json() as { raw: { text: string } };
  const shown = JSON.parse(lineage.raw.text) as Record<string, unknown>;
  assert.equal([shown.customer_id, shown.card_number, shown.email], ["cust-1", NOT_SHOWN_RAW, NOT_SHOWN_RAW], "the raw message over the API: personal fields withheld, the rest shown");
  places.push(["spans", ctx.capture.spans.join("\n")], ["logs", ctx.capture.logs.join("")]);
  assert.ok(ctx.capture.spans.length > 0, "spans were exported");
  for (const [where, text] of places) for (const value of CLEAR) assert.not.ok(text.includes(value), `${where} holds ${value === CARD ? "the card number" : "a clear value"}`);
  const raw = (await streamMessages(ctx.nc, "RAW")).map((m) => m.data).join("\n");
  assert.ok(CLEAR.slice(0, 3).every((v) => raw.includes(v)), "the clear values are in RAW");
});

test.run();
