// End-to-end throughput: raw publish → validate → EVENTS → sink → rows in ClickHouse, all actors
// on, next to a baseline measured in the same run on the same kind of server: a bare nats.js loop
// that publishes into a stream and consumes with an explicit ack per message, no processing.
//   npm run bench [-- --events 50000]
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { NatsServer } from "../tests/harness/nats-server.ts";
import { natsBaseline } from "./baseline.ts";
import { validReadings } from "../tests/harness/events.ts";
import { publishAll, startTestPipeline } from "../tests/harness/pipeline.ts";
import { waitFor } from "../tests/harness/wait.ts";

const { values } = parseArgs({ options: { events: { type: "string", default: "50000" } } });
const count = Number(values.events);


async function pipeline(): Promise<number> {
  const nats = await NatsServer.start();
  const p = await startTestPipeline(nats.url);
  try {
    const nc = await connect({ servers: nats.url });
    const messages = validReadings(count, Date.UTC(2026, 10, 27, 10), 50);
    const started = performance.now();
    await publishAll(nc, messages);
    const rows = await waitFor(() => p.scalar("SELECT count() FROM sluice.events"), (n) => n >= count, 600_000, 100);
    const seconds = (performance.now() - started) / 1000;
    if (rows < count) throw new Error(`only ${rows} of ${count} rows arrived`);
    await nc.close();
    return count / seconds;
  } finally {
    await p.cleanup();
    await nats.stop();
  }
}

const base = await natsBaseline(count);
const full = await pipeline();
console.log(`events: ${count}`);
console.log(`baseline  nats.js publish → stream → consume + JSON.parse + ack: ${base.toFixed(0)} msgs/s`);
console.log(`pipeline  raw publish → validate → EVENTS → ClickHouse rows (all actors on): ${full.toFixed(0)} events/s`);
console.log(`ratio     pipeline / baseline: ${(full / base).toFixed(3)}`);
