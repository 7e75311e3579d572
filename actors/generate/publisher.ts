import { SpanKind, context, trace, type Tracer } from "@opentelemetry/api";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { setTimeout as sleep } from "node:timers/promises";
import type { Config } from "../../config/index.ts";
import type { Source } from "../../subjects/sources.ts";
import { injectContext } from "../../otel/propagation.ts";
import type { Logger } from "../runtime/actor.ts";
import { connectNats } from "../pipeline.ts";
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
  readonly anomalyRate: number;
  readonly log: Logger;
  readonly tracer?: Tracer;
  /** Called for each injected anomaly, to write labels aside. */
  readonly onLabel?: (label: { subject: string; event_id: unknown; label: unknown }) => void;
}

export interface Publisher {
  /** Resolves when the run ends (duration reached or stopped). */
  readonly done: Promise<number>;
  stop(): Promise<number>;
}

const TICK_MS = 50;

/**
 * Publishes generated events to `raw.*` the way any producer would: one JSON object per message,
 * `Nats-Msg-Id` set to the event id so a retried publish is stored once, trace context in headers.
 * Paced by wall clock; returns the number of events stored.
 */
export async function startPublisher(opts: PublisherOptions): Promise<Publisher> {
  const nc = await connectNats(opts.natsUrl, opts.config, "sluice:generate");
  const js = jetstream(nc);
  const generator = createGenerator({ seed: opts.seed, sources: [...opts.sources], anomalyRate: opts.anomalyRate });
  const stopAt = opts.durationSeconds ? Date.now() + opts.durationSeconds * 1000 : Infinity;
  let stopped = false;
  let published = 0;

  const loop = async (): Promise<number> => {
    const started = Date.now();
    while (!stopped && Date.now() < stopAt) {
      const due = Math.floor(((Date.now() - started) / 1000) * opts.rate) - published;
      const acks: Array<Promise<unknown>> = [];
      for (let i = 0; i < due; i++) {
        const event = generator.next(Date.now());
        const h = natsHeaders();
        const span = opts.tracer?.startSpan(`send ${event.subject}`, { kind: SpanKind.PRODUCER, attributes: { "messaging.system": "nats", "messaging.destination.name": event.subject } });
        if (span) injectContext(h, trace.setSpan(context.active(), span));
        const id = typeof event.payload.event_id === "string" ? event.payload.event_id : undefined;
        if (event.label) opts.onLabel?.({ subject: event.subject, event_id: id, label: event.label });
        acks.push(js.publish(event.subject, JSON.stringify(event.payload), { headers: h, msgID: id }).finally(() => span?.end()));
      }
      const results = await Promise.allSettled(acks);
      const failed = results.filter((r) => r.status === "rejected");
      published += results.length - failed.length;
      if (failed.length) opts.log.warn(`generate: ${failed.length} publishes failed (${(failed[0] as PromiseRejectedResult).reason}); retrying on the next tick`);
      await sleep(TICK_MS);
    }
    await nc.drain().catch(() => undefined);
    return published;
  };
  const done = loop();
  return {
    done,
    async stop() {
      stopped = true;
      return done;
    },
  };
}
