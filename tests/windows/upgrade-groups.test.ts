import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { setTimeout as sleep } from "node:timers/promises";
import { createLogger } from "../../actors/runtime/log.ts";
import { keyedBuckets } from "../../actors/runtime/keyed/ownership.ts";
import { windowActor } from "../../actors/window/index.ts";
import { input, OPTS, outputs, publish, settled, withServer } from "./shard-input.ts";

const test = suite("windows: upgrade from the one groups task to group shards");
const log = createLogger("error");

/** Publishes the first part, waits so the second starts in a later millisecond of stream time, publishes the rest; the EVENTS sequence and stream time of the last message of the first part. */
async function publishInTwo(nc: NatsConnection, split: number): Promise<{ seq: number; timestampMs: number }> {
  const events = input();
  await publish(nc, events.slice(0, split));
  const jsm = await jetstreamManager(nc);
  const last = (await jsm.streams.info("EVENTS")).state.last_seq;
  const msg = await jsm.streams.getMessage("EVENTS", { seq: last });
  // Stream time has millisecond resolution: the two parts must not share one.
  await sleep(20);
  await publish(nc, events.slice(split));
  return { seq: last, timestampMs: msg!.time.getTime() };
}

const isGroupTask = (line: string) => line.includes(".groups-");

test("the group tasks publish only what follows the old groups task's checkpoint; the partition tasks everything", async () => {
  const split = Math.floor(input().length * 0.6);
  const secondPart = new Set(input().slice(split).map((e) => e.event_id));

  // Fresh install: every output, with the stream time of the message that produced it.
  const fresh = await withServer(async (_nats, nc) => {
    const boundary = await publishInTwo(nc, split);
    const controller = new AbortController();
    const running = windowActor(OPTS).run({ nc, log, signal: controller.signal });
    try {
      await settled(nc);
      return {
        all: await outputs(nc),
        // A window row carries the stream time of the message that fired it; a late row names its event.
        groupsAfter: await outputs(nc, (m, body) => isGroupTask(m.msgId ?? "") && (body.type === "late" ? secondPart.has(String(body.event_id)) : Number(body.emitted_at) > boundary.timestampMs)),
      };
    } finally {
      controller.abort();
      await running;
    }
  });

  // Upgrade: the old `groups` task had checkpointed (its last clean stop) at the end of the first part.
  const upgraded = await withServer(async (_nats, nc) => {
    const boundary = await publishInTwo(nc, split);
    const leases = await new Kvm(nc).create(keyedBuckets("window").leases, { history: 1 });
    await leases.put("groups", JSON.stringify({ holder: null, checkpoint: { object: `groups.1.old`, seq: boundary.seq } }));
    const controller = new AbortController();
    const running = windowActor(OPTS).run({ nc, log, signal: controller.signal });
    try {
      await settled(nc);
      return await outputs(nc);
    } finally {
      controller.abort();
      await running;
    }
  });

  const freshGroups = fresh.all.filter(isGroupTask);
  assert.ok(fresh.groupsAfter.length > 20 && fresh.groupsAfter.length < freshGroups.length, `group outputs after the boundary: ${fresh.groupsAfter.length} of ${freshGroups.length}`);
  assert.equal(upgraded.filter(isGroupTask), fresh.groupsAfter, "group tasks: exactly the outputs of the messages after the old checkpoint, none before");
  assert.equal(upgraded.filter((l) => !isGroupTask(l)), fresh.all.filter((l) => !isGroupTask(l)), "partition tasks: unaffected");
});

test.run();
