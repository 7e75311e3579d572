import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../harness/nats-server.ts";
import { startTestPipeline, type TestPipeline } from "../harness/pipeline.ts";
import { waitFor } from "../harness/wait.ts";
import { validateTasks } from "../../actors/validate/index.ts";
import { subject } from "../../subjects/catalog.ts";
import { listDeadLetters, purgeDeadLetters } from "../../api/dlq.ts";

/**
 * Hostile input through the real pipeline. Each case states its documented outcome: a dead-letter
 * code, `event` (a row in sluice.events), `duplicate` (the same event as an earlier case: no second
 * row) or `refused` (the broker refuses the publish, nothing enters). After a run every stored RAW
 * message is accounted for: events + dead letters + duplicates = messages stored.
 */
export interface Case {
  readonly name: string;
  readonly subject: string;
  readonly body: string | Uint8Array;
  readonly headers?: Readonly<Record<string, string>>;
  readonly expect: string;
  /** More checks on the stored row (the event's or the dead letter's). */
  readonly check?: (row: StoredRow) => void;
}

export interface StoredRow {
  readonly event_id: string;
  readonly key: string;
  readonly payload: string;
  readonly reason: string;
  readonly error_code: string;
  readonly headers: string;
}

export interface Ctx {
  nats: NatsServer;
  nc: NatsConnection;
  pipeline: TestPipeline;
}

export function hostileSuite(name: string, opts: { maxPayload?: number } = {}) {
  const test = suite<Ctx>(name);
  test.before(async (ctx) => {
    ctx.nats = await NatsServer.start({ maxPayload: opts.maxPayload });
    // Each case set waits for its rows (and a canary's) in ClickHouse: 100 ms sink batches, as the
    // other pipeline tests use, instead of the default second per batch on each of those waits.
    ctx.pipeline = await startTestPipeline(ctx.nats.url, { env: { SLUICE_SINK_BATCH_MS: "100" } });
    ctx.nc = await connect({ servers: ctx.nats.url });
  });
  test.after(async (ctx) => {
    await ctx.nc?.close();
    await ctx.pipeline?.cleanup();
    await ctx.nats?.stop();
  });
  return test;
}

const encoder = new TextEncoder();
export const bytes = (s: string) => encoder.encode(s);
let unique = 0;
/** A key no other case uses, so a case's rows are its own. */
export const freshKey = (prefix: string) => `${prefix}-${process.pid}-${++unique}`;
/** An RFC 3339 time a few seconds ago: fresh for every expectation. */
export const recent = () => new Date(Date.now() - 5_000).toISOString();

/**
 * validate has no durable consumer to ask (its tasks read RAW in order from checkpoints): one
 * barrier per task, published after the cases, is handled after them. Each is an unparseable
 * payload, so it ends as a dead letter and no events query sees it; {@link dropBarriers} takes
 * them off DLQ again so the cases' tests see only their own dead letters there.
 */
async function publishBarriers(nc: NatsConnection): Promise<string[]> {
  const subjects = validateTasks().map((t) => subject.raw(t.source ?? "not-a-source", freshKey("barrier")));
  for (const s of subjects) await jetstream(nc).publish(s, "{");
  return subjects;
}

async function dropBarriers(nc: NatsConnection, barriers: readonly string[]): Promise<void> {
  const letters = (await listDeadLetters(nc)).filter((d) => barriers.includes(d.originalSubject));
  assert.is(await purgeDeadLetters(nc, { ids: letters.map((d) => d.id) }, letters), barriers.length, "every barrier dead letter purged");
}

async function settled(nc: NatsConnection, pipeline: TestPipeline, barriers: readonly string[]): Promise<boolean> {
  const handled = await pipeline.scalar(`SELECT count() FROM sluice.dead_letters FINAL WHERE subject IN (${barriers.map((b) => `'${b}'`).join(",")})`);
  if (handled < barriers.length) return false;
  const jsm = await jetstreamManager(nc);
  for (const [stream, durable] of [["EVENTS", "clickhouse-sink-events"], ["DLQ", "clickhouse-sink-dlq"]]) {
    const info = await jsm.consumers.info(stream, durable);
    if (info.num_pending + info.num_ack_pending > 0) return false;
  }
  return true;
}

/** The rows of `sql` (JSONEachRow), every value as ClickHouse prints it. */
export async function rows(pipeline: TestPipeline, sql: string): Promise<Array<Record<string, string>>> {
  const rs = await pipeline.clickhouse!.client.query({ query: sql, format: "JSONEachRow" });
  return (await rs.json()) as Array<Record<string, string>>;
}

/** Publishes every case, waits until the pipeline has handled them, and checks each outcome and the balance. */
export async function runCases({ nc, pipeline }: Ctx, cases: readonly Case[]): Promise<void> {
  const js = jetstream(nc);
  const published: Array<{ c: Case; seq?: number; duplicate?: boolean; error?: string }> = [];
  for (const c of cases) {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(c.headers ?? {})) h.set(k, v);
    try {
      const ack = await js.publish(c.subject, c.body, c.headers ? { headers: h } : {});
      published.push({ c, seq: ack.seq, duplicate: ack.duplicate });
    } catch (err) {
      published.push({ c, error: (err as Error).message });
    }
  }
  const barriers = await publishBarriers(nc);
  assert.ok(await waitFor(() => settled(nc, pipeline, barriers), (done) => done, 60_000), "every consumer caught up");
  await dropBarriers(nc, barriers);

  const seqs = published.filter((p) => p.seq !== undefined && !p.duplicate).map((p) => p.seq!);
  const inList = seqs.length ? seqs.join(",") : "0";
  const events = new Map((await rows(pipeline, `SELECT raw_seq, event_id, key, payload FROM sluice.events FINAL WHERE raw_seq IN (${inList})`)).map((r) => [Number(r.raw_seq), r]));
  const dead = new Map((await rows(pipeline, `SELECT stream_seq, error_code, reason, payload, headers FROM sluice.dead_letters FINAL WHERE stream = 'RAW' AND stream_seq IN (${inList})`)).map((r) => [Number(r.stream_seq), r]));

  let duplicates = 0;
  for (const p of published) {
    const label = `${p.c.name} (${p.c.subject})`;
    if (p.c.expect === "refused") {
      assert.ok(p.error, `${label}: the broker refuses it`);
      continue;
    }
    assert.not.ok(p.error, `${label}: published (${p.error})`);
    const seq = p.seq!;
    const event = events.get(seq);
    const letter = dead.get(seq);
    if (p.c.expect === "event") {
      assert.ok(event, `${label}: expected an event, got ${letter ? `dead letter ${letter.error_code}: ${letter.reason}` : "nothing"}`);
      p.c.check?.({ reason: "", error_code: "", headers: "", ...event } as unknown as StoredRow);
    } else if (p.c.expect === "duplicate") {
      assert.not.ok(event, `${label}: no second row`);
      assert.not.ok(letter, `${label}: not a dead letter`);
      duplicates++;
    } else {
      assert.ok(letter, `${label}: expected dead letter ${p.c.expect}, got ${event ? "an event" : "nothing"}`);
      assert.is(letter.error_code, p.c.expect, `${label}: code (reason: ${letter.reason})`);
      assert.ok(letter.reason.length > 0, `${label}: has a reason`);
      p.c.check?.({ event_id: "", key: "", ...letter } as unknown as StoredRow);
    }
  }
  const stored = seqs.length;
  assert.is(events.size + dead.size + duplicates, stored, `stored ${stored} = events ${events.size} + dead letters ${dead.size} + duplicates ${duplicates}`);
  await stillRunning({ nc, pipeline } as Ctx);
}

/** A valid reading published after the hostile ones still lands: the pipeline kept running. */
export async function stillRunning({ nc, pipeline }: Ctx): Promise<void> {
  const key = freshKey("canary");
  await jetstream(nc).publish(`raw.iot.${key}`, JSON.stringify({ sensor_id: key, ts: recent(), temperature: 20 }));
  const n = await waitFor(() => pipeline.scalar(`SELECT count() FROM sluice.events FINAL WHERE key = '${key}'`), (v) => v === 1, 30_000);
  assert.is(n, 1, "a valid reading after the hostile ones lands");
}

/** An iot reading for `key` with fields merged in. */
export function reading(key: string, fields: Record<string, unknown> = {}): string {
  return JSON.stringify({ sensor_id: key, ts: recent(), temperature: 21.5, ...fields });
}
