import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../harness/nats-server.ts";
import { streamMessages } from "../harness/run-snapshot.ts";
import { waitFor } from "../harness/wait.ts";
import { ensureStreams } from "../../subjects/setup.ts";
import { createLogger } from "../../actors/runtime/log.ts";
import { windowActor, type WindowActorOptions } from "../../actors/window/index.ts";
import type { Envelope } from "../../subjects/envelope.ts";
import { BASE } from "./helpers.ts";

const test = suite("windows: output ids name the config and the partitioning");
const log = createLogger("error");

/** Two sensors on EVENTS partition 0 (a partition every partition count has), 6 minutes, then a far reading. */
function input(): Envelope[] {
  const out: Envelope[] = [];
  const times = Array.from({ length: 36 }, (_, i) => BASE + i * 10_000).concat(BASE + 3_600_000);
  for (const t of times) {
    for (const key of ["sensor-a", "sensor-b"]) {
      out.push({
        event_id: `${key}-${t}`, source: "iot", key, schema_version: 1, event_time: t, ingest_time: t,
        payload: { sensor_id: key, site: "oslo", temperature: 10 + ((t / 10_000) % 5) }, raw_subject: `raw.iot.${key}`, raw_seq: 0,
      });
    }
  }
  return out;
}

/** The AGG and LATE `Nats-Msg-Id`s the window actor emits for `input()` on a fresh server. */
async function outputIds(opts: WindowActorOptions): Promise<string[]> {
  const nats = await NatsServer.start();
  const nc = await connect({ servers: nats.url });
  const controller = new AbortController();
  try {
    await ensureStreams(await jetstreamManager(nc));
    const running = windowActor({ rebalanceMs: 100, ...opts }).run({ nc, log, signal: controller.signal });
    const js = jetstream(nc);
    for (const e of input()) await js.publish("events.iot.0", JSON.stringify(e));
    const jsm = await jetstreamManager(nc);
    let last = -1;
    // Settled: AGG unchanged over three polls.
    await waitFor(async () => {
      const n = (await jsm.streams.info("AGG")).state.messages;
      const same = n > 0 && n === last;
      last = n;
      return same;
    }, Boolean, 20_000, 700);
    controller.abort();
    await running;
    const messages = [...(await streamMessages(nc, "AGG")), ...(await streamMessages(nc, "LATE"))];
    return messages.map((m) => m.msgId ?? `(no id at ${m.subject} seq ${m.seq})`).sort();
  } finally {
    controller.abort();
    await nc.close();
    await nats.stop();
  }
}

test("same config and partitions: identical ids; another partition count or config: disjoint ids", async () => {
  // idleMs 1: partitions without input are idle at once, so the group tasks' watermarks move.
  const first = await outputIds({ partitions: 2, idleMs: 1 });
  const again = await outputIds({ partitions: 2, idleMs: 1 });
  const fourPartitions = await outputIds({ partitions: 4, idleMs: 1 });
  const otherIdle = await outputIds({ partitions: 2, idleMs: 2 });
  const threeShards = await outputIds({ partitions: 2, groupShards: 3, idleMs: 1 });
  assert.ok(first.length > 14, `${first.length} outputs`);
  assert.ok(first.some((id) => id.includes(".groups-iot-")), `a group task emitted too: ${first.slice(0, 3).join(", ")}`);
  assert.equal(again, first, "a replay of the same input under the same config gives the same ids");
  const seen = new Set(first);
  assert.equal(fourPartitions.filter((id) => seen.has(id)), [], "SLUICE_PARTITIONS 4 instead of 2 reuses no id");
  assert.equal(otherIdle.filter((id) => seen.has(id)), [], "another window config reuses no id");
  // The partition tasks do not depend on the group shards: their ids stay, the group tasks' change.
  const isGroup = (id: string) => id.includes(".groups-");
  assert.equal(threeShards.filter((id) => !isGroup(id)), first.filter((id) => !isGroup(id)), "SLUICE_GROUP_SHARDS 3 keeps the partition tasks' ids");
  assert.ok(threeShards.some(isGroup), "three shards: a group task emitted");
  assert.equal(threeShards.filter((id) => isGroup(id) && seen.has(id)), [], "SLUICE_GROUP_SHARDS 3 instead of 2 reuses no group task id");
});

test.run();
