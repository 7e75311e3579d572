import { setTimeout as sleep } from "node:timers/promises";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { ensureStreams } from "../subjects/setup.ts";
import { streamOverrides } from "../actors/pipeline.ts";
import { loadConfig } from "../config/index.ts";
import { publishAll, streamCount } from "../tests/harness/pipeline.ts";
import { waitFor } from "../tests/harness/wait.ts";
import type { TestMessage } from "../tests/harness/events.ts";

/**
 * One IoT reading whose event time is its publish time, with that time also in `sent_ms`, so a
 * row in `sluice.events` tells how long it took to become visible.
 */
export function stampedReading(seq: number, keys: number, sentMs: number): TestMessage {
  const sensor = `sensor-${seq % keys}`;
  return {
    subject: `raw.iot.${sensor}`,
    body: `{"sensor_id":"${sensor}","ts":${sentMs},"temperature":${(20 + (seq % 7) * 0.5).toFixed(1)},"seq":${seq},"sent_ms":${sentMs}}`,
  };
}

/**
 * `n` readings over `keys` sensors in turn, event times `stepMs` apart (each sensor reports every
 * `keys × stepMs`) and ending now (within the future-skew limit).
 */
export function recentReadings(n: number, keys: number, stepMs = 250): TestMessage[] {
  const start = Date.now() - n * stepMs;
  return Array.from({ length: n }, (_, i) => stampedReading(1 + i, keys, Math.round(start + i * stepMs)));
}

/** Stores `messages` in RAW (sluice's stream config, default limits) before anything reads them. */
export async function preloadRaw(nc: NatsConnection, messages: TestMessage[], timeoutMs = 120_000): Promise<void> {
  await ensureStreams(await jetstreamManager(nc), streamOverrides(loadConfig({})));
  const before = await streamCount(nc, "RAW");
  await publishAll(nc, messages);
  const stored = await waitFor(() => streamCount(nc, "RAW"), (n) => n >= before + messages.length, timeoutMs, 100);
  if (stored < before + messages.length) throw new Error(`RAW stored ${stored - before} of ${messages.length} preloaded messages`);
}

/**
 * Seconds until `probe` reaches `target` (polled every `everyMs`), counted from `since`
 * (a `performance.now()` value). Fails naming how far it got.
 */
export async function secondsUntil(what: string, probe: () => Promise<number>, target: number, since: number, timeoutMs: number, everyMs = 100): Promise<number> {
  const reached = await waitFor(probe, (n) => n >= target, timeoutMs, everyMs);
  if (reached < target) throw new Error(`${what}: ${reached} of ${target} after ${timeoutMs} ms`);
  return (performance.now() - since) / 1000;
}

export interface PacedPublisher {
  /** Messages published so far; their sequence numbers are `firstSeq … firstSeq + published - 1`. */
  readonly published: () => number;
  /** Stops publishing; resolves with the count once the last messages are flushed. */
  stop(): Promise<number>;
}

/**
 * Publishes stamped readings at a steady `rate` per second (core publishes, as producers do) until
 * stopped. Paced by wall clock in 10 ms ticks, so a slow tick is caught up in the next one.
 */
export function pacedPublish(nc: NatsConnection, opts: { rate: number; keys: number; firstSeq: number }): PacedPublisher {
  let published = 0;
  let stopped = false;
  const started = Date.now();
  const loop = (async () => {
    while (!stopped) {
      const due = Math.floor(((Date.now() - started) / 1000) * opts.rate) - published;
      const now = Date.now();
      for (let i = 0; i < due; i++) {
        const m = stampedReading(opts.firstSeq + published, opts.keys, now);
        nc.publish(m.subject, m.body);
        published++;
      }
      await sleep(10);
    }
    await nc.flush();
  })();
  return {
    published: () => published,
    async stop() {
      stopped = true;
      await loop;
      return published;
    },
  };
}
