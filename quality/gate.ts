import { HEADERS, subject } from "../subjects/catalog.ts";
import type { Envelope } from "../subjects/envelope.ts";
import type { DqResultRecord } from "../clickhouse/rows-quality.ts";
import type { Inbound, Outbound } from "../subjects/message.ts";
import { PoisonError } from "../subjects/errors.ts";
import { PII_FIELDS } from "../subjects/schemas/index.ts";
import { isSource } from "../subjects/sources.ts";
import { BATCH_KINDS, durationMs, type Expectation, type Suite } from "./expectations.ts";

/** What the validate stage decided for one message; the gate turns some acceptances into rejections. */
export type Admission =
  | { readonly ok: true; readonly envelope: Envelope; readonly out: Outbound }
  | { readonly ok: false; readonly error: PoisonError };

export interface QualityGate {
  /**
   * Judges an accepted message against its source's expectations: a failed `reject` expectation
   * turns it into a rejection with code `dq_<name>`, failed `warn` ones are named in the output's
   * `Sluice-Dq-Warnings` header. Rejections pass through untouched.
   */
  admit(input: Inbound, verdict: Admission): Admission;
  /**
   * Moves the gate's clock on to a message's stream time (call it for every message, before
   * `admit`) and returns the counts of each minute that ended before that time as `dq.<source>`
   * messages, one per expectation and minute, with ids `<scope>:<source>:<expectation>:<minute>`;
   * then forgets them. A minute is reported once, when the first message after it arrives: the
   * last minute of a stream waits for a later message.
   */
  advance(streamMs: number, scope: string): Outbound[];
  /** JSON: the clock, the open minute's counts, and the state of the stateful and batch checks (bounded by their limits). */
  snapshot(): GateSnapshot;
  /**
   * Takes over a snapshot's state. A check's state is restored only if its expectation is
   * declared exactly as it was (same source, name and spec); counts only for expectations that
   * still exist. So editing a suite restarts the edited checks, nothing else.
   */
  restore(snapshot: GateSnapshot): void;
}

/** A gate's state as JSON (see {@link QualityGate.snapshot}). */
export interface GateSnapshot {
  readonly clock: number | null;
  readonly tallies: ReadonlyArray<readonly [source: string, minuteAndName: string, tally: Tally]>;
  readonly checks: ReadonlyArray<{ readonly source: string; readonly spec: string; readonly state: unknown }>;
}

const MINUTE = 60_000;
const DEFAULT_BATCH_ROWS = 100;
const DEFAULT_MAX_TRACKED = 100_000;
const SAMPLE_CHARS = 300;
/** A failure: what was expected and what came. */
type Failure = string;
/** Not applicable to this event (the field is absent, or a redelivery): not counted. */
const SKIP = Symbol("skip");
type Outcome = Failure | undefined | typeof SKIP;

interface Tally { evaluated: number; failed: number; sampleEventId: string; sampleReason: string }

/** Reads `field` of an envelope: a `$` name, or a dotted path into the payload split once, not per event. */
function reader(field: string): (envelope: Envelope) => unknown {
  switch (field) {
    case "$event_time": return (e) => e.event_time;
    case "$ingest_time": return (e) => e.ingest_time;
    case "$key": return (e) => e.key;
    case "$event_id": return (e) => e.event_id;
  }
  const path = field.split(".");
  return (envelope) => {
    let value: unknown = envelope.payload;
    for (const token of path) {
      if (value === null || typeof value !== "object" || !Object.hasOwn(value, token)) return undefined;
      value = (value as Record<string, unknown>)[token];
    }
    return value;
  };
}

function shownValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  return String(value);
}

function bounds(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return `from ${min} to ${max}`;
  return min !== undefined ? `≥ ${min}` : `≤ ${max}`;
}

function codePoints(value: string): number {
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0xd800 || c > 0xdbff) n++;
  }
  return n;
}

function human(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % MINUTE === 0) return `${ms / MINUTE}m`;
  return `${ms / 1000}s`;
}

/** An ISO time, or the raw number when it lies outside what Date can show. */
function iso(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? `${ms} ms` : d.toISOString();
}

/** One expectation compiled: a judge of one event, or an accumulator over a run of events. */
interface Compiled {
  readonly spec: Expectation;
  readonly stateful: boolean;
  judge(envelope: Envelope, seq: number): Outcome;
  /** Stateful checks remember an event only once it is accepted. */
  commit?(envelope: Envelope, seq: number): void;
  /** Stateful checks: their memory as JSON, already cut to the window and limit at `nowMs`. */
  snapshot?(nowMs: number): unknown;
  restore?(state: unknown): void;
}

/** Failures reach dead-letter reasons and DQ samples: a personal field's value is named, never shown. */
function compile(spec: Expectation, pii: ReadonlySet<string>): Compiled {
  const field = "field" in spec ? spec.field : "$event_time";
  const at = `/${field.replace(/\./g, "/")}`;
  const hidden = pii.has(field.split(".")[0]);
  const shown = hidden ? () => "a value not shown: PII" : shownValue;
  const lookup = reader(field);
  switch (spec.kind) {
    case "not_null":
      return { spec, stateful: false, judge: (e) => {
        const v = lookup(e);
        return v === undefined || v === null ? `${at} expected a value, got ${shown(v)}` : undefined;
      } };
    case "range":
      return { spec, stateful: false, judge: (e) => {
        const v = lookup(e);
        if (v === undefined || v === null) return SKIP;
        const ok = typeof v === "number" && Number.isFinite(v) && (spec.min === undefined || v >= spec.min) && (spec.max === undefined || v <= spec.max);
        return ok ? undefined : `${at} expected a number ${bounds(spec.min, spec.max)}, got ${shown(v)}`;
      } };
    case "in_set": {
      const allowed = new Set<unknown>(spec.values);
      const list = spec.values.map((x) => JSON.stringify(x)).join(", ");
      return { spec, stateful: false, judge: (e) => {
        const v = lookup(e);
        if (v === undefined || v === null) return SKIP;
        return allowed.has(v) ? undefined : `${at} expected one of ${list.length > 120 ? `${list.slice(0, 120)}…` : list}, got ${shown(v)}`;
      } };
    }
    case "regex": {
      const re = new RegExp(spec.pattern, (spec.flags ?? "").replace(/[gy]/g, ""));
      return { spec, stateful: false, judge: (e) => {
        const v = lookup(e);
        if (v === undefined || v === null) return SKIP;
        return typeof v === "string" && re.test(v) ? undefined : `${at} expected a string matching /${spec.pattern}/, got ${shown(v)}`;
      } };
    }
    case "length":
      return { spec, stateful: false, judge: (e) => {
        const v = lookup(e);
        if (v === undefined || v === null) return SKIP;
        if (typeof v !== "string") return `${at} expected a string of ${bounds(spec.min, spec.max)} characters, got ${shown(v)}`;
        const n = codePoints(v);
        const ok = (spec.min === undefined || n >= spec.min) && (spec.max === undefined || n <= spec.max);
        return ok ? undefined : `${at} expected ${bounds(spec.min, spec.max)} characters, got ${n}`;
      } };
    case "freshness": {
      const maxAge = durationMs(spec.max_age);
      const maxFuture = durationMs(spec.max_future);
      return { spec, stateful: false, judge: (e) => {
        const age = e.ingest_time - e.event_time;
        // Numbers compared; the times are formatted only for a failure (every event passes here).
        const when = () => `event time ${iso(e.event_time)} at ingest ${iso(e.ingest_time)}`;
        if (maxAge !== undefined && age > maxAge) return `/ts expected at most ${human(maxAge)} before ingest, got ${human(Math.round(age / 1000) * 1000)} before (${when()})`;
        if (maxFuture !== undefined && -age > maxFuture) return `/ts expected at most ${human(maxFuture)} after ingest, got ${human(Math.round(-age / 1000) * 1000)} after (${when()})`;
        return undefined;
      } };
    }
    case "unique": {
      const windowMs = durationMs(spec.window)!;
      const limit = spec.max_tracked ?? DEFAULT_MAX_TRACKED;
      // Insertion order is ingest order, so the oldest entries are at the front.
      const seen = new Map<string, { seq: number; at: number }>();
      const keyOf = (v: unknown) => `${typeof v}:${typeof v === "object" ? JSON.stringify(v) : String(v)}`;
      const forget = (now: number) => {
        for (const [k, entry] of seen) {
          if (entry.at >= now - windowMs && seen.size <= limit) break;
          seen.delete(k);
        }
      };
      return {
        spec,
        stateful: true,
        judge: (e, seq) => {
          const v = lookup(e);
          if (v === undefined || v === null) return SKIP;
          forget(e.ingest_time);
          const before = seen.get(keyOf(v));
          if (before?.seq === seq) return SKIP;
          return before ? `${at} expected a value not seen in the last ${human(windowMs)}, got ${shown(v)} again (first at seq ${before.seq})` : undefined;
        },
        commit: (e, seq) => {
          const v = lookup(e);
          if (v === undefined || v === null) return;
          const k = keyOf(v);
          if (!seen.has(k)) seen.set(k, { seq, at: e.ingest_time });
        },
        snapshot: (now) => {
          forget(now);
          return [...seen].map(([k, entry]) => [k, entry.seq, entry.at]);
        },
        restore: (state) => {
          seen.clear();
          for (const [k, seq, at] of state as Array<[string, number, number]>) seen.set(k, { seq, at });
        },
      };
    }
    case "monotonic": {
      const limit = spec.max_keys ?? DEFAULT_MAX_TRACKED;
      const last = new Map<string, { value: number; seq: number }>();
      return {
        spec,
        stateful: true,
        judge: (e, seq) => {
          const v = lookup(e);
          if (typeof v !== "number") return SKIP;
          const prev = last.get(e.key);
          if (!prev) return undefined;
          if (seq <= prev.seq) return SKIP;
          const ok = spec.strict ? v > prev.value : v >= prev.value;
          return ok ? undefined : `${at} expected ${spec.strict ? "more than" : "at least"} ${hidden ? "the previous value" : prev.value} (key ${JSON.stringify(e.key)}, seq ${prev.seq}), got ${shown(v)}`;
        },
        commit: (e, seq) => {
          const v = lookup(e);
          if (typeof v !== "number") return;
          const prev = last.get(e.key);
          if (prev && seq <= prev.seq) return;
          last.delete(e.key);
          last.set(e.key, { value: v, seq });
          if (last.size > limit) last.delete(last.keys().next().value!);
        },
        snapshot: () => [...last].map(([key, entry]) => [key, entry.value, entry.seq]),
        restore: (state) => {
          last.clear();
          for (const [key, value, seq] of state as Array<[string, number, number]>) last.set(key, { value, seq });
        },
      };
    }
    case "null_ratio":
    case "mean":
      throw new Error(`${spec.kind} is a batch expectation`);
  }
}

/** A batch expectation: counts over a run of `rows` accepted events, judged when the run is full. */
function compileBatch(spec: Expectation & { kind: "null_ratio" | "mean" }) {
  const rows = spec.rows ?? DEFAULT_BATCH_ROWS;
  const lookup = reader(spec.field);
  let n = 0, nulls = 0, sum = 0, numbers = 0;
  return {
    spec,
    add(envelope: Envelope): Failure | undefined | typeof SKIP {
      const v = lookup(envelope);
      n++;
      if (v === undefined || v === null) nulls++;
      else if (typeof v === "number" && Number.isFinite(v)) {
        sum += v;
        numbers++;
      }
      if (n < rows) return SKIP;
      let failure: Failure | undefined;
      if (spec.kind === "null_ratio") {
        const share = nulls / n;
        if (share > spec.max) failure = `/${spec.field} expected at most ${spec.max} of ${n} events without a value, got ${share.toFixed(3)}`;
      } else if (numbers > 0) {
        const mean = sum / numbers;
        const ok = (spec.min === undefined || mean >= spec.min) && (spec.max === undefined || mean <= spec.max);
        if (!ok) failure = `/${spec.field} expected a mean ${bounds(spec.min, spec.max)} over ${n} events, got ${mean.toFixed(3)}`;
      }
      n = nulls = sum = numbers = 0;
      return failure;
    },
    snapshot: (): unknown => [n, nulls, sum, numbers],
    restore(state: unknown) {
      [n, nulls, sum, numbers] = state as [number, number, number, number];
    },
  };
}

/**
 * A reducer over a stream of messages in stream order: per-event checks, windows for `unique` and
 * `monotonic`, runs for batch checks, and counts per (source, expectation, minute of stream time).
 * It reads no clock: times come from the envelopes and from `advance(streamMs)`, so the same
 * messages give the same verdicts and the same reports, and a gate restored from a snapshot goes
 * on as the original would have.
 *
 * @example
 * const gate = createQualityGate(loadSuites());
 * const reports = gate.advance(input.timestampMs, scope);
 * const verdict = gate.admit(input, validate(input));
 */
export function createQualityGate(suites: Readonly<Record<string, Suite>>): QualityGate {
  /** The latest stream time seen; counts never go to a minute before it, even if the server's clock stepped back. */
  let clock: number | null = null;
  const bySource = new Map(Object.entries(suites).map(([source, suite]) => {
    const pii = new Set(isSource(source) ? PII_FIELDS[source] : []);
    const perEvent = suite.expectations.filter((e) => !BATCH_KINDS.includes(e.kind)).map((e) => compile(e, pii));
    const batch = suite.expectations.filter((e): e is Expectation & { kind: "null_ratio" | "mean" } => BATCH_KINDS.includes(e.kind)).map(compileBatch);
    return [source, { stateless: perEvent.filter((c) => !c.stateful), stateful: perEvent.filter((c) => c.stateful), batch }] as const;
  }));
  // source → "minute|name" → tally
  const tallies = new Map<string, Map<string, Tally>>();

  const count = (envelope: Envelope, spec: Expectation, outcome: Outcome) => {
    if (outcome === SKIP) return;
    let perSource = tallies.get(envelope.source);
    if (!perSource) tallies.set(envelope.source, (perSource = new Map()));
    const at = clock === null ? envelope.ingest_time : Math.max(clock, envelope.ingest_time);
    const key = `${Math.floor(at / MINUTE) * MINUTE}|${spec.name}`;
    let tally = perSource.get(key);
    if (!tally) perSource.set(key, (tally = { evaluated: 0, failed: 0, sampleEventId: "", sampleReason: "" }));
    tally.evaluated++;
    if (outcome !== undefined) {
      tally.failed++;
      tally.sampleEventId = envelope.event_id;
      tally.sampleReason = outcome.slice(0, SAMPLE_CHARS);
    }
  };

  return {
    admit(input, verdict) {
      if (!verdict.ok) return verdict;
      const { envelope } = verdict;
      const checks = bySource.get(envelope.source);
      if (!checks) return verdict;
      const warnings: string[] = [];
      let rejection: { spec: Expectation; failure: Failure } | undefined;
      const judge = (list: readonly Compiled[]) => {
        for (const c of list) {
          const outcome = c.judge(envelope, input.seq);
          count(envelope, c.spec, outcome);
          if (outcome === SKIP || outcome === undefined) continue;
          if (c.spec.severity === "warn") warnings.push(c.spec.name);
          else rejection ??= { spec: c.spec, failure: outcome };
        }
      };
      judge(checks.stateless);
      if (!rejection) judge(checks.stateful);
      if (rejection) {
        const where = `${input.subject} (stream ${input.stream} seq ${input.seq})`;
        const field = "field" in rejection.spec ? `/${rejection.spec.field.replace(/\./g, "/")}` : "/ts";
        return { ok: false, error: new PoisonError(`dq_${rejection.spec.name}`, `${where}: data-quality expectation ${rejection.spec.name} (${rejection.spec.kind}) failed: ${rejection.failure}`, { field }) };
      }
      for (const c of checks.stateful) c.commit?.(envelope, input.seq);
      for (const b of checks.batch) {
        const outcome = b.add(envelope);
        count(envelope, b.spec, outcome);
        if (outcome !== SKIP && outcome !== undefined) warnings.push(b.spec.name);
      }
      if (warnings.length === 0) return verdict;
      return { ...verdict, out: { ...verdict.out, headers: { ...verdict.out.headers, [HEADERS.dqWarnings]: warnings.join(",") } } };
    },

    advance(streamMs, scope) {
      clock = clock === null ? streamMs : Math.max(clock, streamMs);
      const open = Math.floor(clock / MINUTE) * MINUTE;
      const out: Outbound[] = [];
      for (const [source, perSource] of tallies) {
        for (const [key, tally] of perSource) {
          const bar = key.indexOf("|");
          const minute = Number(key.slice(0, bar));
          if (minute >= open) continue;
          perSource.delete(key);
          const name = key.slice(bar + 1);
          const spec = suites[source].expectations.find((e) => e.name === name)!;
          const record: DqResultRecord = {
            // One report per task, source, expectation and minute: a replay publishes the same id again.
            report_id: `${scope}:${source}:${name}:${minute}`,
            minute,
            source,
            expectation: name,
            kind: spec.kind,
            severity: spec.severity,
            evaluated: tally.evaluated,
            failed: tally.failed,
            sample_event_id: tally.sampleEventId,
            sample_reason: tally.sampleReason,
            reported_at: clock,
          };
          out.push({ subject: subject.dq(source), data: JSON.stringify(record), msgId: record.report_id });
        }
      }
      return out;
    },

    snapshot() {
      const now = clock ?? 0;
      const checks: Array<{ source: string; spec: string; state: unknown }> = [];
      for (const [source, c] of bySource) {
        for (const s of c.stateful) checks.push({ source, spec: JSON.stringify(s.spec), state: s.snapshot!(now) });
        for (const b of c.batch) checks.push({ source, spec: JSON.stringify(b.spec), state: b.snapshot() });
      }
      const flat = [...tallies].flatMap(([source, perSource]) => [...perSource].map(([key, tally]) => [source, key, { ...tally }] as const));
      return { clock, tallies: flat, checks };
    },

    restore(snapshot) {
      clock = snapshot.clock;
      tallies.clear();
      for (const [source, key, tally] of snapshot.tallies) {
        const name = key.slice(key.indexOf("|") + 1);
        if (!suites[source]?.expectations.some((e) => e.name === name)) continue;
        let perSource = tallies.get(source);
        if (!perSource) tallies.set(source, (perSource = new Map()));
        perSource.set(key, { ...tally });
      }
      const saved = new Map(snapshot.checks.map((c) => [`${c.source}\u0000${c.spec}`, c.state]));
      for (const [source, c] of bySource) {
        for (const check of [...c.stateful, ...c.batch]) {
          const key = `${source}\u0000${JSON.stringify(check.spec)}`;
          if (saved.has(key)) check.restore!(saved.get(key));
        }
      }
    },
  };
}
