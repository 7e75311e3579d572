import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { STREAMS } from "../subjects/catalog.ts";
import { withDeadline } from "../nats/deadline.ts";

/** A RAW message as the stream still holds it. */
export interface RawMessage {
  readonly subject: string;
  readonly seq: number;
  readonly storedAt: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly data: Uint8Array;
}

/** RAW by sequence; undefined when the stream no longer has it (RAW forgets after SLUICE_RAW_MAX_AGE_HOURS). */
export type RawReader = (seq: number) => Promise<RawMessage | undefined>;

export function natsRawReader(nc: NatsConnection, timeoutMs = 5_000): RawReader {
  return async (seq) => {
    const jsm = await withDeadline(jetstreamManager(nc), { what: "jetstream manager", timeoutMs });
    const stored = await withDeadline(jsm.streams.getMessage(STREAMS.RAW.name, { seq }), { what: `get ${STREAMS.RAW.name} seq ${seq}`, timeoutMs }).catch((err: Error) => {
      if (/no message found|not found/i.test(err.message)) return null;
      throw err;
    });
    if (!stored) return undefined;
    const headers: Record<string, string> = {};
    if (stored.header) for (const k of stored.header.keys()) headers[k] = stored.header.get(k);
    return { subject: stored.subject, seq: stored.seq, storedAt: stored.time.getTime(), headers, data: stored.data };
  };
}
