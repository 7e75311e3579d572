import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { waitFor } from "../harness/wait.ts";
import { createLogger } from "../../actors/runtime/log.ts";
import { keyedBuckets, parseLease } from "../../actors/runtime/keyed/ownership.ts";
import { windowActor } from "../../actors/window/index.ts";
import { input, OPTS, outputs, publish, settled, SHARDS, withServer } from "./shard-input.ts";

const test = suite("windows: group shards split between instances");
const log = createLogger("error");

test("two instances, the second joining mid-stream, publish exactly the AGG and LATE messages of one", async () => {
  const events = input();
  const half = Math.floor(events.length / 2);

  const single = await withServer(async (_nats, nc) => {
    const controller = new AbortController();
    const running = windowActor(OPTS).run({ nc, log, signal: controller.signal });
    try {
      await publish(nc, events);
      await settled(nc);
      return await outputs(nc);
    } finally {
      controller.abort();
      await running;
    }
  });

  const { two, holders } = await withServer(async (nats, nc) => {
    const ncB = await connect({ servers: nats.url });
    const a = new AbortController();
    const b = new AbortController();
    const runA = windowActor(OPTS).run({ nc, log, signal: a.signal });
    let runB: Promise<void> | undefined;
    try {
      await publish(nc, events.slice(0, half));
      runB = windowActor(OPTS).run({ nc: ncB, log, signal: b.signal });
      const leases = await new Kvm(nc).open(keyedBuckets("window").leases);
      // Who holds each group task, once both instances hold some: a hand-over is a final
      // checkpoint, a release and an acquire.
      const groupHolders = async () => {
        const owners = new Map<string, string>();
        for await (const key of await leases.keys()) {
          const entry = await leases.get(key);
          const holder = entry?.operation === "PUT" ? parseLease(entry.string()).holder : null;
          if (key.startsWith("groups-") && holder) owners.set(key, holder);
        }
        return owners;
      };
      const owners = await waitFor(groupHolders, (o) => o.size === 3 * SHARDS && new Set(o.values()).size === 2, 20_000, 250);
      await publish(nc, events.slice(half));
      await settled(nc);
      return { two: await outputs(nc), holders: owners };
    } finally {
      a.abort();
      b.abort();
      await runA;
      await runB;
      await ncB.close();
    }
  });

  assert.is(new Set(holders.values()).size, 2, `both instances run group tasks: ${JSON.stringify([...holders])}`);
  assert.ok(single.length > 100, `${single.length} outputs`);
  assert.ok(single.some((l) => /^\S+\.groups-txn-\d:/.test(l)), "group tasks of txn emitted");
  assert.ok(single.some((l) => l.startsWith("late:") && l.includes(".groups-")), "a group task emitted a late message");
  const missing = single.filter((l) => !two.includes(l));
  const extra = two.filter((l) => !single.includes(l));
  assert.equal({ missing: missing.slice(0, 3), extra: extra.slice(0, 3), counts: [single.length, two.length] }, { missing: [], extra: [], counts: [single.length, single.length] });
});

test.run();
