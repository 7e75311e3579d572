// NATS users derived from the actor declarations (auth/nats-permissions.ts), against a real
// nats-server with the generated authorization: each denial is a clear error, counted in
// sluice_denied_total{surface="nats"}, and changes nothing; then the whole pipeline runs with
// every actor process signed in as its own user, producers with a password.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { loadConfig } from "../../config/index.ts";
import { closeNats, connectNats, NatsAuthError } from "../../nats/connect.ts";
import { withDeadline } from "../../nats/deadline.ts";
import { denialCount } from "../../auth/denials.ts";
import { readNatsUser } from "../../auth/nats-users.ts";
import { CONSUMERS } from "../../subjects/consumers.ts";
import { ensureConsumer } from "../../subjects/setup.ts";
import { REGISTRY_BUCKET } from "../../subjects/registry/registry.ts";
import { ACTOR_NAMES, type ActorName } from "../../actors/pipeline.ts";
import { startAuthorizedNats, type AuthorizedNats } from "../harness/nats-auth.ts";
import { invalidMessages, validReadings } from "../harness/events.ts";
import { publishAll, startTestPipeline, streamCount, type TestPipeline } from "../harness/pipeline.ts";
import { SluiceProcess, sqlOverNats } from "../harness/sluice-process.ts";
import { waitFor } from "../harness/wait.ts";
import { listDeadLetters, purgeDeadLetters, replayDeadLetters } from "../../api/dlq.ts";

interface Ctx {
  auth: AuthorizedNats;
  open: NatsConnection[];
}

const test = suite<Ctx>("NATS authorization from the actor declarations");

test.before(async (ctx) => {
  ctx.auth = await startAuthorizedNats();
  ctx.open = [];
});

test.after(async (ctx) => {
  for (const nc of ctx.open ?? []) await closeNats(nc);
  await ctx.auth?.stop();
});

/** A connection as sluice client `name` (its generated user), or with the sign-in `env` gives. */
async function as(ctx: Ctx, name: string, env: Record<string, string> = {}): Promise<NatsConnection> {
  const nc = await connectNats(ctx.auth.nats.url, loadConfig({ ...ctx.auth.env, ...env }), name, { log: { info: () => undefined } });
  ctx.open.push(nc);
  return nc;
}

/** `work` must be refused by the server for `subject`; the refusal is counted in this process. */
async function refused(what: string, subject: string | RegExp, work: () => Promise<unknown>): Promise<void> {
  const before = denialCount("nats", "publish");
  const err = await withDeadline(work(), { what, timeoutMs: 10_000 }).then(() => undefined, (e: Error) => e);
  assert.ok(err, `${what}: expected a refusal, it succeeded`);
  assert.match(err!.message, typeof subject === "string" ? `Permissions Violation for Publish to "${subject}"` : subject, `${what}: the error names the refused subject`);
  await waitFor(async () => denialCount("nats", "publish"), (n) => n > before, 10_000, 20);
}

const producerEnv = (ctx: Ctx) => {
  const producer = readNatsUser(ctx.auth.credentialsDir, "producer")!;
  return { NATS_USER: producer.user, NATS_PASSWORD: producer.password! };
};

test("an actor's user publishing outside its subjects is refused, and nothing is stored", async (ctx) => {
  const window = await as(ctx, "sluice:window");
  const events = await streamCount(ctx.auth.admin, "EVENTS");
  // window emits AGG and LATE only: EVENTS is validate's to write.
  await refused("window publishes to EVENTS", "events.iot.0", () => jetstream(window).publish("events.iot.0", "{}"));
  // A dead letter only under its own name.
  await refused("window dead-letters as validate", "dlq.validate.iot", () => jetstream(window).publish("dlq.validate.iot", "{}"));
  assert.is(await streamCount(ctx.auth.admin, "EVENTS"), events, "EVENTS unchanged");
  // What it may do works on the same connection.
  const ack = await jetstream(window).publish("agg.iot.tumbling", "{}", { msgID: "auth-test-agg" });
  assert.is(ack.stream, "AGG");
});

test("an actor's user deleting or purging a stream is refused, and the stream keeps its messages", async (ctx) => {
  await jetstream(ctx.auth.admin).publish("raw.iot.keep", "{}");
  const before = await streamCount(ctx.auth.admin, "RAW");
  const validate = await as(ctx, "sluice:validate");
  const jsm = await jetstreamManager(validate);
  await refused("validate deletes RAW", "$JS.API.STREAM.DELETE.RAW", () => jsm.streams.delete("RAW"));
  await refused("validate purges RAW", "$JS.API.STREAM.PURGE.RAW", () => jsm.streams.purge("RAW"));
  await refused("validate changes EVENTS", "$JS.API.STREAM.UPDATE.EVENTS", () => jsm.streams.update("EVENTS", { max_age: 1_000_000_000 }));
  assert.is(await streamCount(ctx.auth.admin, "RAW"), before, "RAW unchanged");
  assert.is((await (await jetstreamManager(ctx.auth.admin)).streams.info("EVENTS")).config.max_age, 7 * 24 * 3600 * 1_000_000_000, "EVENTS config unchanged");
});

test("an actor's user reading, binding or deleting another actor's durable is refused; its own ordered consumer works", async (ctx) => {
  const admin = await jetstreamManager(ctx.auth.admin);
  await ensureConsumer(admin, CONSUMERS.sinkEvents);
  await jetstream(ctx.auth.admin).publish("events.iot.0", `{"n":1}`, { msgID: "auth-test-ev-1" });
  const sinkBefore = await admin.consumers.info("EVENTS", CONSUMERS.sinkEvents.durable_name);
  // window reads EVENTS too, with ordered consumers of its own naming: the sink's durable is denied by name.
  const window = await as(ctx, "sluice:window");
  const d = CONSUMERS.sinkEvents.durable_name;
  await refused("window pulls the sink's durable", `$JS.API.CONSUMER.MSG.NEXT.EVENTS.${d}`, () => window.request(`$JS.API.CONSUMER.MSG.NEXT.EVENTS.${d}`, JSON.stringify({ batch: 1, expires: 1_000_000_000 }), { timeout: 5_000 }));
  await refused("window rebinds the sink's durable", `$JS.API.CONSUMER.CREATE.EVENTS.${d}`, async () => (await jetstreamManager(window)).consumers.add("EVENTS", { durable_name: d, ack_policy: "explicit", deliver_policy: "new" as never }));
  await refused("window deletes the sink's durable", `$JS.API.CONSUMER.DELETE.EVENTS.${d}`, async () => (await jetstreamManager(window)).consumers.delete("EVENTS", d));
  const sinkAfter = await admin.consumers.info("EVENTS", d);
  assert.is(sinkAfter.delivered.stream_seq, sinkBefore.delivered.stream_seq, "nothing delivered from the sink's durable");
  assert.is(sinkAfter.config.deliver_policy, sinkBefore.config.deliver_policy, "its config unchanged");
  // Its own kind of reading still works.
  const ordered = await jetstream(window).consumers.get("EVENTS", { filter_subjects: "events.iot.0", deliver_policy: DeliverPolicy.All });
  const first = await withDeadline(ordered.next({ expires: 5_000 }), { what: "window's ordered consumer reads EVENTS" });
  assert.ok(first, "window's ordered consumer delivers");
  await ordered.delete().catch(() => undefined);
  // A sink cannot read EVENTS through any consumer but its own.
  const agg = await as(ctx, "sluice:clickhouse-sink-agg");
  await refused("the AGG sink pulls the EVENTS sink's durable", `$JS.API.CONSUMER.MSG.NEXT.EVENTS.${d}`, () => agg.request(`$JS.API.CONSUMER.MSG.NEXT.EVENTS.${d}`, JSON.stringify({ batch: 1 }), { timeout: 5_000 }));
});

test("a producer signed in with its password may publish to raw.> only", async (ctx) => {
  const producer = await as(ctx, "test:producer", producerEnv(ctx));
  const events = await streamCount(ctx.auth.admin, "EVENTS");
  await refused("producer publishes to EVENTS", "events.iot.0", () => jetstream(producer).publish("events.iot.0", "{}"));
  await refused("producer publishes to ALERTS", "alerts.iot.high", () => jetstream(producer).publish("alerts.iot.high", "{}"));
  await refused("producer asks for SQL", "sluice.rpc.sql", () => producer.request("sluice.rpc.sql", "{}", { timeout: 5_000 }));
  assert.is(await streamCount(ctx.auth.admin, "EVENTS"), events, "EVENTS unchanged");
  const ack = await jetstream(producer).publish("raw.iot.sensor-auth", `{"sensor_id":"sensor-auth","ts":1764237600,"temperature":20}`);
  assert.is(ack.stream, "RAW", "raw.> is stored");
  // A wrong password is refused at the door, with a message that says how to get the right one.
  const wrong = await as(ctx, "test:producer", { NATS_USER: "producer", NATS_PASSWORD: "not-it" }).then(() => undefined, (e: Error) => e);
  assert.instance(wrong, NatsAuthError);
  assert.match(wrong!.message, /sluice creds show/);
});

test("only the operator writes the schema registry: an actor's KV put is refused and the entry is not there", async (ctx) => {
  const key = "iot.v99";
  const validate = await as(ctx, "sluice:validate");
  const readOnly = await new Kvm(validate).open(REGISTRY_BUCKET);
  assert.ok((await readOnly.keys().then(async (it) => { const all: string[] = []; for await (const k of it) all.push(k); return all; })).length > 0, "validate reads the registry");
  await refused("validate writes a schema", `$KV.${REGISTRY_BUCKET}.${key}`, () => readOnly.put(key, "{}"));
  const reader = await as(ctx, "sluice:sql");
  await refused("the reader writes a schema", `$KV.${REGISTRY_BUCKET}.${key}`, () => new Kvm(reader).open(REGISTRY_BUCKET).then((kv) => kv.put(key, "{}")));
  const asAdmin = await new Kvm(ctx.auth.admin).open(REGISTRY_BUCKET);
  assert.is(await asAdmin.get(key), null, "no entry was written");
  const operator = await as(ctx, "sluice:schema");
  const writable = await new Kvm(operator).open(REGISTRY_BUCKET);
  await writable.put("auth-test.v1", "{}");
  assert.ok(await asAdmin.get("auth-test.v1"), "the operator's write is stored");
  await writable.delete("auth-test.v1");
});

test("the reader may only ask for SQL", async (ctx) => {
  const reader = await as(ctx, "sluice:sql");
  await refused("the reader publishes an event", "raw.iot.x", () => jetstream(reader).publish("raw.iot.x", "{}"));
  await refused("the reader asks the jobs service", "sluice.rpc.jobs.run", () => reader.request("sluice.rpc.jobs.run", "{}", { timeout: 5_000 }));
});

test("the pipeline runs with every actor process as its own user: events reach ClickHouse, dead letters land, nothing refused", async (ctx) => {
  const N = 200;
  const M = 10;
  const sinks = ACTOR_NAMES.filter((n) => n.startsWith("clickhouse-sink"));
  const lakes = ACTOR_NAMES.filter((n) => n.startsWith("lake-"));
  // One process per actor, the sinks together (they share the embedded engine), as sluice up --split
  // runs them. The lake actors open an engine of their own, one per process: child processes.
  const inProcess: ActorName[][] = [...ACTOR_NAMES.filter((n) => !sinks.includes(n) && !lakes.includes(n)).map((n) => [n]), sinks];
  const deniedBefore = denialCount("nats", "publish") + denialCount("nats", "subscription");
  const pipelines: TestPipeline[] = [];
  const children: Array<{ actor: string; proc: SluiceProcess; stateDir: string }> = [];
  try {
    for (const actor of lakes) {
      const stateDir = mkdtempSync(join(tmpdir(), "sluice-state-"));
      children.push({ actor, stateDir, proc: SluiceProcess.start(["actor", actor], { ...ctx.auth.env, NATS_URL: ctx.auth.nats.url, SLUICE_STATE_DIR: stateDir, SLUICE_LOG_LEVEL: "info" }) });
    }
    for (const actors of inProcess) pipelines.push(await startTestPipeline(ctx.auth.nats.url, { actors, env: ctx.auth.env }));
    const store = pipelines[pipelines.length - 1];
    const producer = await as(ctx, "test:producer", producerEnv(ctx));
    await publishAll(producer, [...validReadings(N), ...invalidMessages(M)]);
    const events = await waitFor(() => store.scalar("SELECT countIf(payload LIKE '%\"seq\"%') FROM sluice.events FINAL"), (n) => n >= N, 120_000);
    assert.is(events, N, "rows in sluice.events");
    // raw.iot.keep (an empty object, from the stream test) is a dead letter of its own.
    const mine = "FROM sluice.dead_letters FINAL WHERE actor = 'validate' AND subject != 'raw.iot.keep'";
    const dead = await waitFor(() => store.scalar(`SELECT count() ${mine}`), (n) => n >= M, 120_000);
    assert.is(dead, M, "validate's dead letters in sluice.dead_letters");
    // The reader gets the rows over sluice.rpc.sql from the sinks' process (it answers as its own user).
    const reader = await as(ctx, "sluice:sql");
    const rows = await sqlOverNats(reader, `SELECT count() ${mine}`);
    assert.is(Number(rows[0][0]), M, "the reader's SQL over NATS");
    assert.is(denialCount("nats", "publish") + denialCount("nats", "subscription"), deniedBefore, "no actor in this process was refused anything it does");
    // The operator replays and purges a dead letter (sluice dlq replay/purge); an actor may do neither.
    const operator = await as(ctx, "sluice:dlq:replay");
    const letters = (await listDeadLetters(operator, { actor: "validate" })).filter((dl) => dl.originalSubject !== "raw.iot.keep");
    assert.is(letters.length, M, "the operator lists validate's dead letters");
    const [replayed] = await replayDeadLetters(operator, letters.slice(0, 1));
    assert.is(replayed.error, undefined, "the operator's replay is stored");
    const validateNc = await as(ctx, "sluice:validate");
    await refused("validate deletes a dead letter", "$JS.API.STREAM.MSG.DELETE.DLQ", async () => (await jetstreamManager(validateNc)).streams.deleteMessage("DLQ", letters[0].id));
    assert.is(await purgeDeadLetters(operator, { ids: [letters[0].id] }, letters.slice(0, 1)), 1, "the operator purges it");
    // The lake actors took their tasks (leases, checkpoints, ordered consumers) as their own users.
    for (const { actor, proc } of children) {
      await waitFor(async () => proc.output, (out) => /runs task/.test(out) || proc.child.exitCode !== null, 60_000);
      assert.is(proc.child.exitCode, null, `${actor} is running:\n${proc.output}`);
      assert.not.match(proc.output, /NATS refused|Permissions Violation/, `${actor} was refused nothing`);
    }
  } finally {
    for (const p of pipelines.reverse()) await p.cleanup();
    for (const { proc, stateDir } of children) {
      await proc.kill("SIGTERM");
      rmSync(stateDir, { recursive: true, force: true });
    }
  }
});

test.run();
