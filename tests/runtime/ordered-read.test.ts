// A keyed task's read of its subjects (actors/runtime/keyed/ordered-read.ts) outlives the
// consumer under it: when the server drops the consumer (here: deleted, as a node's loss takes an
// ordered consumer's only replica), the read goes on from the next sequence, with no message
// missing or repeated. The cluster tests (tests/cluster/) lose it by SIGKILL and SIGSTOP.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../harness/nats-server.ts";
import { withDeadline } from "../../nats/deadline.ts";
import { OrderedRead } from "../../actors/runtime/keyed/ordered-read.ts";
import { createLogger } from "../../actors/runtime/log.ts";

const test = suite<{ nats: NatsServer; nc: NatsConnection }>("keyed runtime: a task's ordered read survives the loss of its consumer");

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
});

test.after(async ({ nc, nats }) => {
  await nc?.close();
  await nats?.stop();
});

async function publish(nc: NatsConnection, subject: string, from: number, to: number): Promise<void> {
  const js = jetstream(nc);
  for (let i = from; i <= to; i++) await js.publish(subject, String(i));
}

/** Reads `n` messages from `read` (or fails after `timeoutMs`), returning their payloads and sequences. */
async function take(iterator: AsyncIterator<{ seq: number; string(): string }>, n: number, timeoutMs = 20_000): Promise<Array<{ seq: number; body: string }>> {
  return withDeadline(async () => {
    const out: Array<{ seq: number; body: string }> = [];
    while (out.length < n) {
      const next = await iterator.next();
      if (next.done) throw new Error(`the read ended after ${out.length} of ${n} messages`);
      out.push({ seq: next.value.seq, body: next.value.string() });
    }
    return out;
  }, { what: `${n} messages of the read`, timeoutMs });
}

test("a deleted consumer is re-created after the last message handed out: every message once, in order", async ({ nc }) => {
  const stream = `ORDERED_${Date.now()}`;
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [`${stream.toLowerCase()}.>`] });
  const subject = `${stream.toLowerCase()}.a`;
  // Another subject in the same stream, outside the filter: its sequences must not show up.
  await publish(nc, `${stream.toLowerCase()}.b`, 1, 3);
  await publish(nc, subject, 1, 30);
  const controller = new AbortController();
  // From after the first three messages of the filter, as a task resuming from a checkpoint at sequence 6.
  const read = await OrderedRead.open(nc, { stream, filters: [subject], after: 6, name: "ordered-read test", maxMessages: 8, signal: controller.signal, log: createLogger("warn") });
  try {
    const iterator = read[Symbol.asyncIterator]();
    const first = await take(iterator, 10);
    for (const c of await jsm.consumers.list(stream).next()) await jsm.consumers.delete(stream, c.name);
    await publish(nc, subject, 31, 40);
    const rest = await take(iterator, 27);
    const bodies = [...first, ...rest].map((m) => Number(m.body));
    assert.equal(bodies, Array.from({ length: 37 }, (_, i) => i + 4), "messages 4..40 of the subject, each once, in order");
    const seqs = [...first, ...rest].map((m) => m.seq);
    assert.equal(seqs, Array.from({ length: 37 }, (_, i) => i + 7), "stream sequences 7..43 (the other subject's 1..3 left out)");
    assert.ok(read.recreated >= 1, `the consumer was re-created (${read.recreated} times)`);
  } finally {
    controller.abort();
    await read.close();
  }
});

test("closing the read ends its iterator", async ({ nc }) => {
  const stream = `ORDERED_CLOSE_${Date.now()}`;
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [`${stream.toLowerCase()}.>`] });
  const read = await OrderedRead.open(nc, { stream, filters: [`${stream.toLowerCase()}.>`], after: 0, name: "ordered-read test", maxMessages: 8, signal: new AbortController().signal, log: createLogger("warn") });
  const iterator = read[Symbol.asyncIterator]();
  const waiting = iterator.next();
  await read.close();
  const next = await withDeadline(waiting, { what: "the iterator's end after close", timeoutMs: 5_000 });
  assert.is(next.done, true);
});

test.run();
