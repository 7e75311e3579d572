import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../harness/nats-server.ts";
import { ConfigConflictError, ensureConsumer, ensureStreams } from "../../subjects/setup.ts";
import { CONSUMERS, consumerConfig } from "../../subjects/consumers.ts";
import { withDeadline } from "../../nats/deadline.ts";

const test = suite<{ nats: NatsServer; nc: NatsConnection; jsm: JetStreamManager }>("ensureConsumer");

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
  ctx.jsm = await jetstreamManager(ctx.nc);
  await ensureStreams(ctx.jsm);
});
test.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.nats?.stop();
});

test("a catalog consumer is created without the filter that would select its whole stream", async ({ jsm }) => {
  assert.is(consumerConfig(CONSUMERS.sinkDq).filter_subject, undefined);
  assert.is(consumerConfig({ ...CONSUMERS.sinkDq, filter_subject: "dq.iot" }).filter_subject, "dq.iot", "a narrower filter stays");
  const info = await ensureConsumer(jsm, CONSUMERS.sinkDq);
  assert.is(info.config.filter_subject, undefined);
  assert.is((await ensureConsumer(jsm, CONSUMERS.sinkDq)).name, info.name, "a second call finds the same consumer");
});

test("a durable from before, filtered on its whole stream, loses the filter and keeps its position", async ({ nc, jsm }) => {
  const def = CONSUMERS.sinkEvents;
  const { stream, ...legacy } = def;
  await jsm.consumers.add(stream, legacy);
  const js = jetstream(nc);
  for (let i = 0; i < 5; i++) await js.publish(`events.iot.${i % 2}`, `{"i":${i}}`);
  const consumer = await js.consumers.get(stream, def.durable_name);
  const first = await withDeadline(async () => {
    const batch = await consumer.fetch({ max_messages: 3, expires: 2_000 });
    const seqs: number[] = [];
    for await (const m of batch) {
      m.ack();
      seqs.push(m.seq);
    }
    return seqs;
  }, { what: "fetch 3" });
  assert.equal(first, [1, 2, 3]);
  await nc.flush();

  const info = await ensureConsumer(jsm, def);
  assert.is(info.config.filter_subject, undefined, "unfiltered now");
  assert.is(info.delivered.stream_seq, 3, "the delivered position is kept");
  assert.is(info.ack_floor.stream_seq, 3, "and so are the acks");
  assert.is(info.num_pending, 2);
});

test("a setting the server cannot change is reported with its field, not applied", async ({ jsm }) => {
  const def = { ...CONSUMERS.sinkWindows, durable_name: "started-new" };
  await jsm.consumers.add(def.stream, { durable_name: def.durable_name, ack_policy: "explicit", deliver_policy: "new" });
  const err = await ensureConsumer(jsm, def).then(() => undefined, (e: unknown) => e);
  assert.instance(err, ConfigConflictError);
  assert.is((err as ConfigConflictError).field, "deliver_policy");
  assert.is((err as ConfigConflictError).expected, "all");
  assert.is((await jsm.consumers.info(def.stream, def.durable_name)).config.deliver_policy, "new", "the server's consumer is unchanged");
});

test.run();
