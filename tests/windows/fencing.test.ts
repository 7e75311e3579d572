import { suite } from "uvu";
import * as assert from "uvu/assert";
import { setTimeout as sleep } from "node:timers/promises";
import { type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { waitFor } from "../harness/wait.ts";
import { createLogger } from "../../actors/runtime/log.ts";
import { windowActor } from "../../actors/window/index.ts";
import { keyedBuckets, type LeaseValue } from "../../actors/runtime/keyed/ownership.ts";
import type { Envelope } from "../../subjects/envelope.ts";
import { BASE } from "./helpers.ts";
import { withBroker, type BrokerContext } from "../harness/broker.ts";

const test = suite<BrokerContext>("windows: a task whose lease was taken over writes nothing");

withBroker(test);

/** Validated readings of one sensor on partition 0, every 10 s of event time from `fromMin` for `minutes`. */
async function publishReadings(nc: NatsConnection, fromMin: number, minutes: number): Promise<void> {
  const js = jetstream(nc);
  for (let t = BASE + fromMin * 60_000; t < BASE + (fromMin + minutes) * 60_000; t += 10_000) {
    const e: Envelope = {
      event_id: `fence-${t}`, source: "iot", key: "sensor-1", schema_version: 1, event_time: t, ingest_time: t,
      payload: { sensor_id: "sensor-1", temperature: 20 + ((t / 10_000) % 7) }, raw_subject: "raw.iot.sensor-1", raw_seq: 0,
    };
    await js.publish("events.iot.0", JSON.stringify(e));
  }
}

async function aggCount(nc: NatsConnection): Promise<number> {
  return (await (await jetstreamManager(nc)).streams.info("AGG")).state.messages;
}

test("the lease taken by another live member: no publish, no checkpoint, and the task is not taken back", async ({ nc }) => {
  const lines: string[] = [];
  const log = createLogger("info", (l) => lines.push(l));
  const controller = new AbortController();
  const actor = windowActor({ partitions: 1, rebalanceMs: 100, checkpointEveryMs: 0, memberTtlMs: 2_000 });
  const running = actor.run({ nc, log, signal: controller.signal });
  const kvm = new Kvm(nc);
  const leases = await kvm.open(keyedBuckets("window").leases);
  const members = await kvm.open(keyedBuckets("window").members);
  const lease = async () => {
    const e = await leases.get("p0");
    return e?.operation === "PUT" ? { revision: e.revision, value: JSON.parse(e.string()) as LeaseValue } : undefined;
  };
  let beating: ReturnType<typeof setInterval> | undefined;
  try {
    await publishReadings(nc, 0, 5);
    const before = await waitFor(lease, (l) => (l?.value.checkpoint?.seq ?? 0) >= 30, 10_000, 100);
    assert.ok(before?.value.checkpoint, `p0 checkpointed under its lease: ${JSON.stringify(before)}\n${lines.join("\n")}`);
    const aggBefore = await waitFor(() => aggCount(nc), (n) => n > 0, 5_000, 100);
    assert.ok(aggBefore > 0, "windows of the first five minutes were published");

    // What a takeover does: another live instance updates the lease at the revision it saw.
    await members.put("intruder", JSON.stringify({ at: Date.now() }));
    beating = setInterval(() => void members.put("intruder", JSON.stringify({ at: Date.now() })).catch(() => undefined), 300);
    const stolen = await leases.update("p0", JSON.stringify({ holder: "intruder", checkpoint: before!.value.checkpoint }), before!.revision);

    // From minute 6: the first reading already closes minute 4's window, so the first batch after
    // the takeover has outputs and meets the publish check before any checkpoint write.
    await publishReadings(nc, 6, 4);
    await waitFor(async () => lines.join("\n"), (l) => /lease of instance \w+ at revision \d+ is lost/.test(l), 5_000, 100);
    await sleep(1_000);
    const after = await lease();
    assert.is(after?.revision, stolen, `nobody wrote the lease after the takeover: ${JSON.stringify(after)}`);
    assert.equal(after?.value, { holder: "intruder", checkpoint: before!.value.checkpoint }, "the checkpoint pointer is the intruder's");
    assert.is(await aggCount(nc), aggBefore, "no window of minutes 4-10 was published by the instance that lost the lease");
    assert.match(lines.join("\n"), /refused to publish \d+ outputs of EVENTS sequences/, lines.join("\n"));
  } finally {
    if (beating) clearInterval(beating);
    controller.abort();
    await running;
  }
});

test.run();
