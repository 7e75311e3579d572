// The message as handlers, gates and tests see it: the contract between the runtime and everything that judges messages.

/** A message as a handler sees it: plain data, no broker handle, so handlers unit-test without NATS. */
export interface Inbound {
  readonly subject: string;
  readonly stream: string;
  /** Stream sequence: with the stream name (and `index`), the event's identity. */
  readonly seq: number;
  /**
   * The event's place within its message when the message carries a batch (subjects/event-batch.ts):
   * 0, 1, …; undefined for a message that is one event. (stream, seq, index) identifies the event.
   */
  readonly index?: number;
  /** 1 on first delivery. */
  readonly deliveries: number;
  /** When the stream stored the message, epoch ms. */
  readonly timestampMs: number;
  /** Original headers (first value of each). */
  readonly headers: ReadonlyMap<string, string>;
  readonly data: Uint8Array;
  /** Trace id of this message's processing span ("" when untraced). */
  readonly traceId: string;
}

/** A message to publish; `msgId` becomes `Nats-Msg-Id` so JetStream dedupes redeliveries. */
export interface Outbound {
  readonly subject: string;
  readonly data: Uint8Array | string;
  readonly msgId?: string;
  readonly headers?: Readonly<Record<string, string>>;
}
