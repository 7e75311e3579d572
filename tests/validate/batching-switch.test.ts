// SLUICE_EVENTS_BATCH switched across a crash, both ways. An unbatched validate stored its events
// after its last checkpoint one to a message under their own ids; a batched one in batches under
// batch ids. The restarted task replays RAW from the checkpoint in the other mode: after an
// unbatched checkpoint it sends the replay one to a message, so JetStream drops what was stored;
// after a batched one it reads the batches stored after it and skips their inputs, even with
// batching off. Either way no event is stored twice (without the runtime's handling of the
// switch, 2,000 of these 15,000 events were).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { setTimeout as sleep } from "node:timers/promises";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { withDeadline } from "../../nats/deadline.ts";
import { validReadings, type TestMessage } from "../harness/events.ts";
import { publishAll, streamCount } from "../harness/pipeline.ts";
import type { SluiceProcess } from "../harness/sluice-process.ts";
import { eventsOnStream, startValidateEnv, validateCheckpoint } from "../harness/validate-events.ts";
import { waitFor } from "../harness/wait.ts";

const test = suite("validate: SLUICE_EVENTS_BATCH switched across a SIGKILL, off → on → off, stores every event once");

const rawLast = async (nc: NatsConnection) => (await withDeadline((await jetstreamManager(nc)).streams.info("RAW"), { what: "RAW info" })).state.last_seq;

test("off, SIGKILL with events stored after the checkpoint; on (replay one to a message, then batches), SIGKILL likewise; off again: every event once", async () => {
  const env = await startValidateEnv("sluice-batch-switch");
  const { nc } = env;
  try {
    const readings = validReadings(15_000, Date.UTC(2026, 10, 27, 10), 40);
    const caughtUp = async () => {
      const raw = await rawLast(nc);
      await waitFor(() => streamCount(nc, "EVENTS"), (n) => n >= raw, 120_000, 100);
      return raw;
    };
    /**
     * Once caught up: past the checkpoint interval (5 s), `backlog`'s first handler batch is
     * followed by a checkpoint; `p` is killed a few batches later, before the next one.
     */
    const killAfterCheckpoint = async (p: SluiceProcess, backlog: TestMessage[], label: string) => {
      const before = await caughtUp();
      await sleep(5_500);
      await publishAll(nc, backlog);
      const saved = await waitFor(() => validateCheckpoint(nc, "iot"), (seq) => seq > before, 60_000, 20);
      const atCheckpoint = await streamCount(nc, "EVENTS");
      await waitFor(() => streamCount(nc, "EVENTS"), (n) => n > atCheckpoint + 500, 4_000, 20).catch(() => undefined);
      await p.kill("SIGKILL");
      const events = await streamCount(nc, "EVENTS");
      // Every reading is valid and the only one of its RAW sequence: the checkpoint covers `saved` events.
      assert.ok(saved < events && events < (await rawLast(nc)), `${label}: killed with events stored after the checkpoint and RAW not all handled (checkpoint ${saved}, EVENTS ${events}, RAW ${await rawLast(nc)})\n${p.output}`);
    };

    const off = env.start({ SLUICE_EVENTS_BATCH: "off" });
    await publishAll(nc, readings.slice(0, 2_000));
    await killAfterCheckpoint(off, readings.slice(2_000, 8_000), "off");
    const on = env.start({ SLUICE_EVENTS_BATCH: "on" });
    await killAfterCheckpoint(on, readings.slice(8_000, 14_000), "on");
    const offAgain = env.start({ SLUICE_EVENTS_BATCH: "off" });
    await publishAll(nc, readings.slice(14_000));
    await caughtUp();
    await sleep(1_500);

    const { events } = await eventsOnStream(nc);
    assert.is(events.length - new Set(events.map((e) => e.id)).size, 0, `no event twice on EVENTS (${events.length} events)\n${on.output}\n${offAgain.output}`);
    assert.is(events.length, readings.length);
    const batched = events.filter((e) => e.batched).length;
    assert.ok(batched > 0 && batched < events.length, `both formats on EVENTS (${batched} of ${events.length} events in batches)`);
    assert.match(on.output, /checkpoint was written without batching; outputs through RAW sequence 8000 go out one to a message/, "the batched restart replayed one to a message");
    assert.match(offAgain.output, /holds batches of this task after the checkpoint/, "the unbatched restart read the batches stored after the checkpoint");
  } finally {
    await env.close();
  }
});

test.run();
