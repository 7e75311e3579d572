import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../tests/harness/nats-server.ts";

const DEFAULT_BODY = JSON.stringify({ sensor_id: "sensor-1", ts: "2026-11-27T10:00:00Z", temperature: 21.5, pad: "x".repeat(120) });

/**
 * The same-run baseline every benchmark divides by: a bare nats.js loop that publishes `count`
 * messages into a file-backed stream and consumes them with an explicit ack each, doing nothing
 * but JSON.parse. Returns messages per second, publish to last ack.
 */
export async function natsBaseline(count: number, bodyOf: (i: number) => string = () => DEFAULT_BODY): Promise<number> {
  const nats = await NatsServer.start();
  try {
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "BASE", subjects: ["base.>"], storage: "file" });
    await jsm.consumers.add("BASE", { durable_name: "base", ack_policy: "explicit", max_ack_pending: 10_000 });
    const started = performance.now();
    for (let i = 0; i < count; i++) nc.publish(`base.${i % 50}`, bodyOf(i));
    await nc.flush();
    const messages = await (await jetstream(nc).consumers.get("BASE", "base")).consume({ max_messages: 1_000 });
    let seen = 0;
    for await (const m of messages) {
      JSON.parse(new TextDecoder().decode(m.data));
      m.ack();
      if (++seen === count) break;
    }
    const seconds = (performance.now() - started) / 1000;
    await nc.close();
    return count / seconds;
  } finally {
    await nats.stop();
  }
}
