import { SpanKind, context, trace, type Tracer } from "@opentelemetry/api";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Config } from "../../config/index.ts";
import type { Source } from "../../subjects/sources.ts";
import { withDeadline } from "../../nats/deadline.ts";
import { injectContext } from "../../otel/propagation.ts";
import type { Logger } from "../runtime/actor.ts";
import { kindOfSource, openReferenceBucket, writeReferences } from "../../enrich/index.ts";
import { connectNats } from "../../nats/connect.ts";
import { createGenerator } from "./index.ts";

export interface PublisherOptions {
  readonly natsUrl: string;
  readonly config: Config;
  /** Events per second across all sources. */
  readonly rate: number;
  /** Stop after this many seconds (0: run until stopped). */
  readonly durationSeconds?: number;
  readonly sources: readonly Source[];
  readonly seed: number;
  /** Names this run in the event ids (see `GeneratorOptions.runId`); a fresh random one unless given (tests). */
  readonly runId?: string;
  readonly anomalyRate: number;
  readonly log: Logger;
  readonly tracer?: Tracer;
  /** Write the generated entities' reference entries (merchants, sensors, users) to the enrich buckets first, so their events are enriched. */
  readonly references?: boolean;
  /** Called for each injected anomaly, to write labels aside. */
  readonly onLabel?: (label: { subject: string; event_id: unknown; label: unknown }) => void;
}

/** What JetStream answered for a run's publishes. */
export interface PublishCounts {
  /** Stored in RAW as new messages. */
  readonly stored: number;
  /** Acknowledged but not stored: RAW already held a message with the same `Nats-Msg-Id` within its duplicate window. */
  readonly duplicates: number;
  /** Not acknowledged (no answer in time, no stream): these events are not in RAW. */
  readonly failed: number;
}

export interface Publisher {
  readonly runId: string;
  /** Resolves when the run ends (duration reached or stopped). */
  readonly done: Promise<PublishCounts>;
  stop(): Promise<PublishCounts>;
}

const TICK_MS = 50;

/**
 * Publishes generated events to `raw.*` the way any producer would: one JSON object per message,
 * `Nats-Msg-Id` set to the event id so a retried publish is stored once, trace context in headers.
 * Paced by wall clock. Counts what the PubAcks say (stored, or a duplicate RAW dropped) and logs
 * both when the run ends, so a run whose ids RAW already held does not pass for a stored one.
 */
export async function startPublisher(opts: PublisherOptions): Promise<Publisher> {
  const nc = await connectNats(opts.natsUrl, opts.config, "sluice:generate");
  const js = jetstream(nc);
  const runId = opts.runId ?? randomBytes(4).toString("hex");
  const generator = createGenerator({ seed: opts.seed, sources: [...opts.sources], anomalyRate: opts.anomalyRate, runId });
  if (opts.references) {
    for (const source of opts.sources) {
      const kind = kindOfSource(source);
      if (!kind) continue;
      const counts = await writeReferences(await openReferenceBucket(nc, kind), generator.references(source));
      opts.log.info(`generate: reference ${kind}: ${counts.inserted} inserted, ${counts.updated} updated, ${counts.unchanged} unchanged`);
    }
  }
  const stopAt = opts.durationSeconds ? Date.now() + opts.durationSeconds * 1000 : Infinity;
  let stopped = false;
  let published = 0;
  let stored = 0;
  let duplicates = 0;
  let failed = 0;

  const loop = async (): Promise<PublishCounts> => {
    const started = Date.now();
    while (!stopped && Date.now() < stopAt) {
      const due = Math.floor(((Date.now() - started) / 1000) * opts.rate) - published;
      const acks: Array<Promise<{ duplicate: boolean }>> = [];
      for (let i = 0; i < due; i++) {
        const event = generator.next(Date.now());
        const h = natsHeaders();
        const span = opts.tracer?.startSpan(`send ${event.subject}`, { kind: SpanKind.PRODUCER, attributes: { "messaging.system": "nats", "messaging.destination.name": event.subject } });
        if (span) injectContext(h, trace.setSpan(context.active(), span));
        const id = typeof event.payload.event_id === "string" ? event.payload.event_id : undefined;
        if (event.label) opts.onLabel?.({ subject: event.subject, event_id: id, label: event.label });
        const ack = withDeadline(js.publish(event.subject, JSON.stringify(event.payload), { headers: h, msgID: id }), { what: `generate: publish ${event.subject}` });
        acks.push(ack.finally(() => span?.end()));
      }
      const results = await Promise.allSettled(acks);
      const rejected = results.filter((r) => r.status === "rejected");
      const repeated = results.filter((r) => r.status === "fulfilled" && r.value.duplicate).length;
      published += results.length - rejected.length;
      stored += results.length - rejected.length - repeated;
      duplicates += repeated;
      failed += rejected.length;
      if (rejected.length) opts.log.warn(`generate: ${rejected.length} publishes failed (${(rejected[0] as PromiseRejectedResult).reason}); those events are not in RAW, the next tick goes on with new ones`);
      await sleep(TICK_MS);
    }
    await withDeadline(nc.drain(), { what: "generate: drain" }).catch(() => undefined);
    const counts = { stored, duplicates, failed };
    opts.log.info(`generate: run ${runId}: stored ${stored}, duplicates ${duplicates}${duplicates ? " (RAW already held their Nats-Msg-Id within its duplicate window)" : ""}${failed ? `, failed ${failed}` : ""}`);
    return counts;
  };
  const done = loop();
  return {
    runId,
    done,
    async stop() {
      stopped = true;
      return done;
    },
  };
}
