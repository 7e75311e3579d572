// Batched EVENTS (SLUICE_EVENTS_BATCH=on) and a change of SLUICE_PARTITIONS across a crash: the
// restarted validate replays RAW from its checkpoint, and the events it stored after that
// checkpoint were on the old partitions' subjects. Every stored batch names its inputs
// (Sluice-Input-Seqs), and the restore reads all of the task's subjects, so none is published
// again on its new subject. (Batch ids alone, which name a subject, would miss them.)
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { streamOverrides } from "../../actors/pipeline.ts";
import { loadConfig } from "../../config/index.ts";
import { ensureStreams } from "../../subjects/setup.ts";
import { validReadings } from "../harness/events.ts";
import { NatsServer } from "../harness/nats-server.ts";
import { publishAll, streamCount } from "../harness/pipeline.ts";
import { SluiceProcess } from "../harness/sluice-process.ts";
import { eventsOnStream, validateCheckpoint } from "../harness/validate-events.ts";
import { waitFor } from "../harness/wait.ts";

const test = suite("validate, batched EVENTS: SIGKILL, then a restart with another partition count stores no event twice");

test("4 partitions, SIGKILL after a checkpoint with batches stored after it, restart with 2: every event once on EVENTS", async () => {
  const nats = await NatsServer.start();
  const stateDir = mkdtempSync(join(tmpdir(), "sluice-partitions-"));
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1 });
  const procs: SluiceProcess[] = [];
  try {
    await ensureStreams(await jetstreamManager(nc), streamOverrides(loadConfig({ SLUICE_STATE_DIR: stateDir })));
    const env = (partitions: number) => ({ NATS_URL: nats.url, SLUICE_STATE_DIR: stateDir, SLUICE_EVENTS_BATCH: "on", SLUICE_PARTITIONS: String(partitions), SLUICE_LOG_LEVEL: "info" });
    const checkpointed = () => validateCheckpoint(nc, "iot");
    const readings = validReadings(12_000, Date.UTC(2026, 10, 27, 10), 40);
    const a = SluiceProcess.start(["actor", "validate"], env(4));
    procs.push(a);
    await publishAll(nc, readings.slice(0, 2_000));
    await waitFor(() => streamCount(nc, "EVENTS").catch(() => 0), (n) => n > 0, 60_000);
    // Past the first checkpoint interval (5 s), so the backlog's first batch is followed by a checkpoint.
    await sleep(5_500);
    await publishAll(nc, readings.slice(2_000));
    const saved = await waitFor(checkpointed, (seq) => seq > 2_000, 60_000, 20);
    // A few batches past the checkpoint, well before the next one (5 s later).
    const atCheckpoint = await streamCount(nc, "EVENTS");
    await waitFor(() => streamCount(nc, "EVENTS"), (n) => n > atCheckpoint + 2, 4_000, 20).catch(() => undefined);
    await a.kill("SIGKILL");
    const rawSeq = (await (await jetstreamManager(nc)).streams.info("RAW")).state.last_seq;
    assert.ok(saved < rawSeq, `killed before the end of the backlog: checkpoint at ${saved} of ${rawSeq}\n${a.output}`);

    const b = SluiceProcess.start(["actor", "validate"], env(2));
    procs.push(b);
    const ids = async () => (await eventsOnStream(nc)).events;
    const stored = await waitFor(ids, (l) => l.length >= readings.length, 300_000, 2_000);
    await sleep(1_500);
    const after = await ids();
    assert.match(b.output, /holds batches of this task after the checkpoint/, "the restart found batches stored after the checkpoint");
    assert.is(after.length - new Set(after.map((e) => e.id)).size, 0, `no event twice on EVENTS (${stored.length} events)\n${b.output}`);
    assert.is(after.length, readings.length, b.output);
    const subjects = new Set(after.map((e) => e.subject));
    assert.ok(subjects.has("events.iot.3"), "events before the kill went to the 4 partitions");
    const late = after.filter((e) => e.subject === "events.iot.2" || e.subject === "events.iot.3").length;
    assert.ok(late < readings.length / 2, `after the restart, only partitions 0 and 1 (${late} events on 2 and 3)`);
  } finally {
    for (const p of procs) await p.kill("SIGKILL");
    await nc.close();
    await nats.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test.run();
