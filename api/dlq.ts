import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import { HEADERS, parseDeadLetterSubject, STREAMS, subject as subjects } from "../subjects/catalog.ts";
import { eventMsgId, sequenceEventId } from "../subjects/identity.ts";
import { withDeadline } from "../nats/deadline.ts";
import { SchemaRegistry } from "../subjects/registry/index.ts";
import { isSource } from "../subjects/sources.ts";
import { policyOf } from "../pii/index.ts";

export { sequenceEventId };

/**
 * Dead letters as people handle them: list, show, replay and purge, reading the `DLQ` stream (the
 * source of truth; `sluice.dead_letters` is its copy for SQL). A dead letter's id is its DLQ
 * stream sequence.
 */

const DLQ = STREAMS.DLQ.name;
const strict = new TextDecoder("utf-8", { fatal: true });

export interface DeadLetter {
  /** DLQ stream sequence: the id `show`, `replay` and `purge` take. */
  readonly id: number;
  readonly subject: string;
  readonly actor: string;
  readonly source: string;
  readonly code: string;
  readonly reason: string;
  readonly originalSubject: string;
  readonly originalStream: string;
  readonly originalSeq: number;
  /** Deliveries of the original message before it was given up (attempts). */
  readonly deliveries: number;
  readonly failedAt: number;
  /** How often this message had been replayed before it failed this time. */
  readonly replayCount: number;
  /** Every header of the dead letter: the original ones plus `Sluice-*`. */
  readonly headers: Readonly<Record<string, string>>;
  readonly data: Uint8Array;
}

export interface DlqFilter {
  readonly actor?: string;
  readonly source?: string;
  /** Matches the error code exactly or a part of the reason (case-insensitive). */
  readonly reason?: string;
  /** Dead letters stored at or after this time, epoch ms. */
  readonly sinceMs?: number;
  /** Only these ids. */
  readonly ids?: readonly number[];
  /** At most this many, the newest. */
  readonly limit?: number;
}

/** A filter value that would not be one subject token. */
export class DlqFilterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DlqFilterError";
  }
}

function token(value: string | undefined, flag: string): string {
  if (value === undefined || value === "") return "*";
  if (/[\s.*>]/.test(value)) throw new DlqFilterError(`${flag} ${JSON.stringify(value)}: must be one subject token (no spaces, ".", "*" or ">")`);
  return value;
}

/** The DLQ subject a filter reads: `dlq.<actor|*>.<source|*>`. */
export function filterSubject(filter: DlqFilter): string {
  return subjects.dlq(token(filter.actor, "--actor"), token(filter.source, "--source"));
}

function headerRecord(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (h) for (const key of h.keys()) out[key] = h.get(key);
  return out;
}

/** A stored DLQ message as a {@link DeadLetter}. */
export function toDeadLetter(id: number, subject: string, headers: Record<string, string>, data: Uint8Array, storedAtMs: number): DeadLetter {
  const { actor, source } = parseDeadLetterSubject(subject) ?? { actor: "", source: "" };
  const h = (name: string) => headers[name] ?? "";
  return {
    id,
    subject,
    actor: h(HEADERS.actor) || actor,
    source,
    code: h(HEADERS.errorCode),
    reason: h(HEADERS.reason),
    originalSubject: h(HEADERS.originalSubject),
    originalStream: h(HEADERS.originalStream),
    originalSeq: Number(h(HEADERS.streamSequence)) || 0,
    deliveries: Number(h(HEADERS.deliveries)) || 1,
    failedAt: Date.parse(h(HEADERS.failedAt)) || storedAtMs,
    replayCount: Number(h(HEADERS.replayCount)) || 0,
    headers,
    data,
  };
}

/** Whether a dead letter passes the filter's non-subject parts (reason, time, ids). */
export function matches(dl: DeadLetter, filter: DlqFilter): boolean {
  if (filter.ids && !filter.ids.includes(dl.id)) return false;
  if (filter.sinceMs !== undefined && dl.failedAt < filter.sinceMs) return false;
  if (filter.reason) {
    const wanted = filter.reason.toLowerCase();
    if (dl.code.toLowerCase() !== wanted && !dl.reason.toLowerCase().includes(wanted)) return false;
  }
  return true;
}

/**
 * The dead letters that pass `filter`, oldest first (at most `limit`, the newest ones). Reads the
 * stream with an ordered consumer on one subject filter, which nats-server 2.9 supports.
 */
export async function listDeadLetters(nc: NatsConnection, filter: DlqFilter = {}): Promise<DeadLetter[]> {
  const subject = filterSubject(filter);
  const js = jetstream(nc);
  const startTime = filter.sinceMs !== undefined ? new Date(filter.sinceMs).toISOString() : undefined;
  const consumer = await js.consumers.get(DLQ, {
    filter_subjects: subject,
    ...(startTime ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: startTime } : { deliver_policy: DeliverPolicy.All }),
  });
  const found: DeadLetter[] = [];
  const stored = await (await jetstreamManager(nc)).streams.info(DLQ);
  if (stored.state.messages === 0) return found;
  try {
    // Fetch until the consumer says nothing is pending, or a fetch comes back empty (nothing
    // matched the filter from the start time on).
    for (let done = false; !done;) {
      let got = 0;
      for await (const m of await consumer.fetch({ max_messages: 1_000, expires: 1_000 })) {
        got++;
        const dl = fromJsMsg(m);
        if (matches(dl, filter)) {
          found.push(dl);
          if (filter.limit !== undefined && found.length > filter.limit) found.shift();
        }
        if (m.info.pending === 0) done = true;
      }
      if (got === 0) done = true;
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
  return found;
}

function fromJsMsg(m: JsMsg): DeadLetter {
  return toDeadLetter(m.seq, m.subject, headerRecord(m.headers), m.data, Number(m.timestampNanos / 1_000_000n));
}

/** One dead letter by id, or undefined when there is none (never stored, purged or expired). */
export async function getDeadLetter(nc: NatsConnection, id: number): Promise<DeadLetter | undefined> {
  const jsm = await jetstreamManager(nc);
  const stored = await jsm.streams.getMessage(DLQ, { seq: id }).catch((err: Error) => {
    if (/no message found|not found/i.test(err.message)) return null;
    throw err;
  });
  if (!stored) return undefined;
  return toDeadLetter(stored.seq, stored.subject, headerRecord(stored.header), stored.data, stored.time.getTime());
}

/** The payload as text when it is UTF-8, else undefined (show it as bytes). */
export function payloadText(dl: DeadLetter): string | undefined {
  try {
    return strict.decode(dl.data);
  } catch {
    return undefined;
  }
}

/**
 * The event id the original message had, or would have had: its own `Nats-Msg-Id`, else the
 * payload's `event_id` (an EVENTS envelope's id for later stages), else the id derived from the
 * ORIGINAL stream and sequence. A replay publishes with this as `Nats-Msg-Id`, so it is the same
 * event however often it is replayed, though each replay gets a new RAW sequence.
 */
export function originalEventId(dl: DeadLetter): string {
  const own = dl.headers[HEADERS.originalMsgId];
  if (own) return own;
  const text = payloadText(dl);
  if (text !== undefined) {
    try {
      const body = JSON.parse(text) as unknown;
      const id = body && typeof body === "object" && !Array.isArray(body) ? (body as Record<string, unknown>).event_id : undefined;
      if (typeof id === "string" && id !== "") return id;
    } catch {
      // Not JSON: the sequence decides.
    }
  }
  return sequenceEventId(dl.originalStream, dl.originalSeq);
}

/**
 * The `Nats-Msg-Id` a replay publishes with, equal to the first delivery's: on RAW the event id
 * (validate scopes it by source and key again); on EVENTS the scoped id (subjects/identity.ts),
 * rebuilt from the envelope when the dead letter did not keep it.
 */
function replayMsgId(dl: DeadLetter): string {
  const eventId = originalEventId(dl);
  if (dl.headers[HEADERS.originalMsgId] || dl.originalStream !== STREAMS.EVENTS.name) return eventId;
  try {
    const envelope = JSON.parse(payloadText(dl) ?? "") as Record<string, unknown>;
    if (typeof envelope.source === "string" && typeof envelope.key === "string") return eventMsgId(envelope.source, envelope.key, eventId);
  } catch {
    // Not an envelope: nothing to scope by.
  }
  return eventId;
}

export interface ReplayMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly msgId: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** What a replay publishes: the original body and headers, the original event id, one more replay. */
export function replayMessage(dl: DeadLetter): ReplayMessage {
  if (!dl.originalSubject) throw new DlqFilterError(`dead letter ${dl.id} has no ${HEADERS.originalSubject} header; it cannot be replayed`);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(dl.headers)) if (!k.startsWith("Sluice-") && k !== HEADERS.msgId) headers[k] = v;
  headers[HEADERS.replayCount] = String(dl.replayCount + 1);
  return { subject: dl.originalSubject, data: dl.data, msgId: replayMsgId(dl), headers };
}

export interface ReplayResult {
  readonly id: number;
  readonly subject: string;
  readonly eventId: string;
  /** The target stream already held a message with this id within its duplicate window. */
  readonly duplicate: boolean;
  readonly error?: string;
}

/**
 * The message a replay republishes. A dead letter of a RAW message is replayed from RAW by its
 * sequence: its own body may have its personal fields protected (pii/), and validate must see the
 * clear original. When RAW no longer holds it (retention), the dead letter's copy is used if the
 * source's schemas protect nothing (then the copy is the original); otherwise the letter is refused.
 */
async function originalOf(nc: NatsConnection, dl: DeadLetter, protects: (source: string) => Promise<boolean>): Promise<DeadLetter> {
  if (dl.originalStream !== STREAMS.RAW.name || dl.originalSeq <= 0) return dl;
  const jsm = await jetstreamManager(nc);
  const stored = await jsm.streams.getMessage(STREAMS.RAW.name, { seq: dl.originalSeq }).catch((err: Error) => {
    if (/no message found|not found/i.test(err.message)) return null;
    throw err;
  });
  if (stored && stored.subject === dl.originalSubject) return { ...dl, data: stored.data };
  if (!(await protects(dl.source))) return dl;
  const maxAgeHours = Number((await jsm.streams.info(STREAMS.RAW.name)).config.max_age) / 3.6e12;
  const gone = stored ? `RAW seq ${dl.originalSeq} holds another message (${stored.subject})` : `RAW no longer holds seq ${dl.originalSeq} (RAW keeps messages ${maxAgeHours > 0 ? `${+maxAgeHours.toFixed(2)} h` : "without an age limit"}: SLUICE_RAW_MAX_AGE_HOURS)`;
  throw new DlqFilterError(`not replayed: ${gone}, and the dead letter carries the message with its personal fields protected (x-sluice-pii of ${dl.source}), not the original`);
}

/** Whether any registered version of a source protects fields: its dead letters' bodies may then not be the messages. */
function protectionLookup(nc: NatsConnection): { protects: (source: string) => Promise<boolean>; close: () => Promise<void> } {
  let registry: Promise<SchemaRegistry> | undefined;
  return {
    async protects(source) {
      if (!isSource(source)) return false;
      const r = await (registry ??= SchemaRegistry.open(nc, { seed: false }));
      return r.versions(source).some((v) => {
        try {
          return policyOf(r.get(source, v)!.schema).size > 0;
        } catch {
          return true;
        }
      });
    },
    close: async () => void (await (await registry)?.close()),
  };
}

/** Republishes each dead letter's original message to its original subject and waits for JetStream to store it. */
export async function replayDeadLetters(nc: NatsConnection, letters: readonly DeadLetter[]): Promise<ReplayResult[]> {
  const js = jetstream(nc);
  const lookup = protectionLookup(nc);
  try {
    return await Promise.all(letters.map(async (dl): Promise<ReplayResult> => {
      try {
        const original = await originalOf(nc, dl, lookup.protects);
        const msg = replayMessage(original);
        const h = natsHeaders();
        for (const [k, v] of Object.entries(msg.headers)) h.set(k, v);
        const ack = await js.publish(msg.subject, msg.data, { headers: h, msgID: msg.msgId });
        return { id: dl.id, subject: msg.subject, eventId: originalEventId(original), duplicate: ack.duplicate };
      } catch (err) {
        return { id: dl.id, subject: dl.originalSubject, eventId: "", duplicate: false, error: (err as Error).message };
      }
    }));
  } finally {
    await lookup.close();
  }
}

/**
 * Removes dead letters from the stream: a filter on actor and source only purges by subject in
 * one call; anything finer deletes the listed messages one by one. Returns how many went.
 * `sluice.dead_letters` keeps its rows as history.
 */
export async function purgeDeadLetters(nc: NatsConnection, filter: DlqFilter, letters: readonly DeadLetter[]): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const bySubjectOnly = !filter.ids && !filter.reason && filter.sinceMs === undefined && filter.limit === undefined;
  if (bySubjectOnly) {
    const last = Math.max(0, ...letters.map((l) => l.id));
    // Up to the last listed one: a dead letter that arrives while the user confirms is kept.
    const { purged } = await jsm.streams.purge(DLQ, { filter: filterSubject(filter), seq: last + 1 });
    return purged;
  }
  let removed = 0;
  for (const dl of letters) if (await jsm.streams.deleteMessage(DLQ, dl.id, false).catch(() => false)) removed++;
  return removed;
}

/** What the API's dead-letter routes read and do, over one NATS connection; each call has a deadline. */
export interface DeadLetterAccess {
  list(filter: DlqFilter): Promise<DeadLetter[]>;
  get(id: number): Promise<DeadLetter | undefined>;
  replay(letters: readonly DeadLetter[]): Promise<ReplayResult[]>;
}

export function natsDeadLetters(nc: NatsConnection, timeoutMs = 10_000): DeadLetterAccess {
  return {
    list: (filter) => withDeadline(listDeadLetters(nc, filter), { what: `list ${filterSubject(filter)}`, timeoutMs }),
    get: (id) => withDeadline(getDeadLetter(nc, id), { what: `get ${DLQ} seq ${id}`, timeoutMs }),
    replay: (letters) => withDeadline(replayDeadLetters(nc, letters), { what: `replay ${letters.length} dead letters`, timeoutMs }),
  };
}
