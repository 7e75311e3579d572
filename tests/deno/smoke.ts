// Runs under Deno (`deno task --config deno-compatible.json smoke`) against the nats-server named
// by NATS_URL: the validate actor, unchanged, consumes three raw messages and publishes three
// envelopes. Prints "deno smoke: ok <runtime>" on success; exits non-zero otherwise.
import { streamEvents } from "../harness/run-snapshot.ts";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { BUILT_IN_SCHEMAS, validateActor } from "../../actors/validate/index.ts";
import { createLogger } from "../../actors/runtime/log.ts";
import { ensureStreams } from "../../subjects/setup.ts";

const url = process.env.NATS_URL;
if (!url) throw new Error("set NATS_URL");
const nc = await connect({ servers: url });
const jsm = await jetstreamManager(nc);
await ensureStreams(jsm);
for (let i = 0; i < 3; i++) {
  nc.publish(`raw.iot.deno-${i}`, JSON.stringify({ sensor_id: `deno-${i}`, ts: "2026-11-27T10:00:00Z", temperature: 20 + i }));
}
await nc.flush();
const controller = new AbortController();
const running = validateActor({ partitions: 2, schemas: BUILT_IN_SCHEMAS }).run({ nc, log: createLogger("warn"), signal: controller.signal });
const deadline = Date.now() + 20_000;
let stored = 0;
while (Date.now() < deadline && stored < 3) {
  await new Promise((r) => setTimeout(r, 100));
  // Events, not messages: validate may carry the three in one EVENTS message.
  stored = await streamEvents(nc, "EVENTS");
}
controller.abort();
await running;
await nc.drain();
const runtime = typeof (globalThis as { Deno?: { version: { deno: string } } }).Deno !== "undefined" ? `deno ${(globalThis as unknown as { Deno: { version: { deno: string } } }).Deno.version.deno}` : `node ${process.version}`;
if (stored !== 3) {
  console.error(`deno smoke: expected 3 events, found ${stored} (${runtime})`);
  process.exit(1);
}
console.log(`deno smoke: ok ${runtime}`);
