import { createGenerator } from "../../actors/generate/index.ts";
import { partitionOf } from "../../subjects/catalog.ts";
import { KEY_FIELD, SOURCES, type Source } from "../../subjects/sources.ts";

/** One RAW publish: body as text or bytes, and the producer's `Nats-Msg-Id` when it sets one. */
export interface RawMessage {
  readonly subject: string;
  readonly body: string | Uint8Array;
  readonly msgId?: string;
  /** What the pipeline must do with it: keep it as this event id, or dead-letter it. */
  readonly expect: { readonly event: string } | { readonly dead: true } | { readonly duplicate: true };
}

export interface Phase {
  readonly name: string;
  readonly messages: readonly RawMessage[];
}

export interface ChaosWorkload {
  /**
   * Published in order, each only after the previous one is entirely in EVENTS, so the window
   * actor folds every phase after the one before whatever happened to validate meanwhile:
   * `main` (the bulk, hostile messages and duplicates, all inside one minute of event time so no
   * window can close during it), `steady` (six sensors of their own in the same minute, smooth
   * with a few spikes: what validate folds after its crashes are over, so their order on EVENTS
   * is the publish order in any run), `advance` (one reading per source and partition 20 minutes on:
   * every window of `main` closes), `late` (readings for `main`'s minute: beyond the allowed
   * lateness, so they go to LATE), `flush` (the final reading per source and partition, one hour
   * after `main` and still in the past: every window of `advance` and `late` closes).
   */
  readonly phases: readonly Phase[];
  /** Distinct event ids that must reach EVENTS (and `sluice.events`) once each. */
  readonly events: number;
  /** Messages that must become dead letters, once each. */
  readonly deadLetters: number;
  /** RAW messages after JetStream's duplicate window dropped the repeated `Nats-Msg-Id`s. */
  readonly rawStored: number;
}

const MINUTE = 60_000;

/**
 * The chaos test's fixed input: seed-7 generator events for every source with injected anomalies,
 * hostile messages every few hundred, and duplicates of both kinds (a producer retry with the same
 * `Nats-Msg-Id`, and the same payload `event_id` published twice without one). `base` is the start
 * of `main`'s minute; pass the same value to both runs. Deterministic for a given `base`.
 *
 * `nowMs` anchors the one reading dated 30 days ahead, which must be refused as from the future.
 */
export function chaosWorkload(opts: { base: number; nowMs: number; events?: number; partitions?: number }): ChaosWorkload {
  const total = opts.events ?? 20_000;
  const partitions = opts.partitions ?? 4;
  // 2.5 ms apart: the whole of `main` spans 50 s of event time, inside the minute at `base`.
  const intervalMs = 50_000 / total;
  const generator = createGenerator({ seed: 7, sources: SOURCES, anomalyRate: 0.02, startTime: opts.base, intervalMs });
  const generated = generator.take(total);
  const main: RawMessage[] = [];
  const hostile = hostileMessages(opts.base, opts.nowMs);
  let hostileAt = 0;
  generated.forEach((e, i) => {
    const body = JSON.stringify(e.payload);
    const id = e.payload.event_id;
    if (i % 50 === 17) {
      // No id anywhere: the event id is the hash of its RAW sequence.
      const { event_id: _dropped, ...rest } = e.payload;
      main.push({ subject: e.subject, body: JSON.stringify(rest), expect: { event: `seq:${i}` } });
    } else if (i % 10 === 3) {
      // The payload's event_id without a header; every third of these is published twice in a row.
      main.push({ subject: e.subject, body, expect: { event: id } });
      if (i % 30 === 3) main.push({ subject: e.subject, body, expect: { duplicate: true } });
    } else {
      main.push({ subject: e.subject, body, msgId: id, expect: { event: id } });
      // A producer retry: the same Nats-Msg-Id again at once, dropped by RAW's duplicate window.
      if (i % 200 === 11) main.push({ subject: e.subject, body, msgId: id, expect: { duplicate: true } });
    }
    if (i % 400 === 199) main.push(hostile[hostileAt++ % hostile.length]);
  });

  const keys = (source: Source) => generator.keys(source);
  const late: RawMessage[] = [];
  for (const source of SOURCES) {
    for (const key of keys(source).slice(0, 4)) {
      const id = `chaos-late-${source}-${key}`;
      late.push({ subject: `raw.${source}.${key}`, body: JSON.stringify(reading(source, key, opts.base + 20_000, id)), msgId: id, expect: { event: id } });
    }
  }
  const phases: Phase[] = [
    { name: "main", messages: main },
    { name: "steady", messages: steadySensors(opts.base) },
    { name: "advance", messages: markers(opts.base + 20 * MINUTE, partitions, "advance") },
    { name: "late", messages: late },
    { name: "flush", messages: markers(opts.base + 60 * MINUTE, partitions, "flush") },
  ];
  const all = phases.flatMap((p) => p.messages);
  return {
    phases,
    events: new Set(all.flatMap((m) => ("event" in m.expect ? [m.expect.event] : []))).size,
    deadLetters: all.filter((m) => "dead" in m.expect).length,
    rawStored: all.filter((m) => !("duplicate" in m.expect) || m.msgId === undefined).length,
  };
}

/** Six sensors, 400 readings each over 50 s: a slow wave with a spike every 100 readings. */
function steadySensors(base: number): RawMessage[] {
  const out: RawMessage[] = [];
  for (let i = 0; i < 400; i++) {
    for (let s = 0; s < 6; s++) {
      const key = `steady-${s}`;
      const id = `chaos-steady-${s}-${i}`;
      const temperature = Number((20 + s + Math.sin(i / 25) + (i % 100 === 60 ? 12 : 0)).toFixed(2));
      const body = { sensor_id: key, site: "steady-site", ts: new Date(base + i * 125 + s * 10).toISOString(), temperature, humidity: 40 + (i % 7), event_id: id };
      out.push({ subject: `raw.iot.${key}`, body: JSON.stringify(body), msgId: id, expect: { event: id } });
    }
  }
  return out;
}

/** A minimal valid payload of `source` for `key` at `atMs`, outside every real group (site, merchant, topic). */
function reading(source: Source, key: string, atMs: number, eventId: string): Record<string, unknown> {
  const ts = new Date(atMs).toISOString();
  const keyField = KEY_FIELD[source];
  if (source === "iot") return { [keyField]: key, ts, temperature: 21, event_id: eventId };
  if (source === "txn") return { [keyField]: key, merchant_id: "chaos-marker", amount: 1, currency: "EUR", ts, event_id: eventId };
  return { [keyField]: key, topic: "chaos-marker", text: "marker", ts, event_id: eventId };
}

/** One reading per source and EVENTS partition at `atMs`: moves every partition's watermark there. */
function markers(atMs: number, partitions: number, phase: string): RawMessage[] {
  const out: RawMessage[] = [];
  for (const source of SOURCES) {
    for (let p = 0; p < partitions; p++) {
      let n = 0;
      while (partitionOf(`chaos-${phase}-${p}-${n}`, partitions) !== p) n++;
      const key = `chaos-${phase}-${p}-${n}`;
      const id = `chaos-${phase}-${source}-${p}`;
      out.push({ subject: `raw.${source}.${key}`, body: JSON.stringify(reading(source, key, atMs, id)), msgId: id, expect: { event: id } });
    }
  }
  return out;
}

/** Messages validate must dead-letter, one of each kind of mistake. */
function hostileMessages(base: number, nowMs: number): RawMessage[] {
  const ts = new Date(base + 10_000).toISOString();
  const dead = { dead: true } as const;
  return [
    { subject: "raw.iot.hostile-1", body: `{"sensor_id":"hostile-1","ts":`, expect: dead },
    { subject: "raw.iot.hostile-1", body: JSON.stringify({ sensor_id: "hostile-1", ts, temperature: "warm" }), expect: dead },
    { subject: "raw.txn.hostile-2", body: JSON.stringify({ customer_id: "hostile-2", ts, amount: 3 }), expect: dead },
    { subject: "raw.iot.hostile-3", body: JSON.stringify({ sensor_id: "someone-else", ts, temperature: 20 }), expect: dead },
    { subject: "raw.iot.hostile-4", body: JSON.stringify({ sensor_id: "hostile-4", ts: new Date(nowMs + 30 * 24 * 3600_000).toISOString(), temperature: 20 }), expect: dead },
    { subject: "raw.iot.hostile-5", body: `[1,2,3]`, expect: dead },
    { subject: "raw.weather.hostile-6", body: JSON.stringify({ ts }), expect: dead },
    { subject: "raw.social.hostile-7", body: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), expect: dead },
    { subject: "raw.social.hostile-8", body: "", expect: dead },
  ];
}
