import type { Inbound } from "../subjects/message.ts";
import { HEADERS } from "../subjects/catalog.ts";

const EVENT_INDEX_HEADER = HEADERS.eventIndex;

/**
 * One stored stream message as the lake keeps it: the original bytes, headers, subject, stream,
 * sequence and stream time. Every Parquet file of the lake has exactly these columns.
 */
export interface LakeRow {
  readonly stream: string;
  readonly seq: number;
  readonly subject: string;
  /** When the stream stored the message, epoch ms. */
  readonly timestampMs: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly data: Uint8Array;
}

/** The Parquet schema, as ClickHouse's structure argument. */
export const LAKE_STRUCTURE = "stream String, seq UInt64, subject String, stream_time DateTime64(3, 'UTC'), headers Map(String, String), data String";

export function lakeRowOf(m: Inbound): LakeRow {
  // A copy of its own: a delivered message's data is a view into the connection's read buffer (tens
  // of kB, shared with every other message read with it), and an open file holds its rows for up to
  // an hour, which kept every read buffer of that hour alive. Not Buffer.from: a small Buffer is a
  // slice of an 8 kB pool slab shared with short-lived allocations, which one row would pin.
  const headers = Object.fromEntries(m.headers);
  // An event of a batch message keeps its place in it: (seq, index) is its identity.
  if (m.index !== undefined) headers[EVENT_INDEX_HEADER] = String(m.index);
  return { stream: m.stream, seq: m.seq, subject: m.subject, timestampMs: m.timestampMs, headers, data: new Uint8Array(m.data) };
}

/** The event's place in its batch message, for a row of a batched event; undefined for a row that is a whole message. */
export function eventIndexOf(r: LakeRow): number | undefined {
  const index = r.headers[EVENT_INDEX_HEADER];
  return index === undefined ? undefined : Number(index);
}

/** Approximate bytes a row adds to a file before compression: what file-size limits count. */
export function rowBytes(r: LakeRow): number {
  let h = 0;
  for (const [k, v] of Object.entries(r.headers)) h += k.length + v.length;
  return r.data.byteLength + r.subject.length + h + 24;
}

const HEX = new TextEncoder().encode("0123456789abcdef");
const utf8 = new TextEncoder();

/** Appends bytes to one growing buffer: the text for a whole file is built without string concatenation. */
class ByteWriter {
  private buf = Buffer.allocUnsafe(1 << 16);
  private at = 0;

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }

  ascii(text: string): void {
    this.room(text.length);
    this.at += this.buf.write(text, this.at, "latin1");
  }

  /**
   * Bytes as a TabSeparated field (inside a quoted Map key or value when `quote`). Everything
   * outside printable ASCII, and the backslash, is a `\xHH` escape: the engine's text input is
   * then binary-safe (a raw byte >= 0x80 would be read as text and replaced when not valid UTF-8).
   */
  escaped(bytes: Uint8Array, quote = false): void {
    this.room(bytes.length * 4);
    const buf = this.buf;
    let at = this.at;
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i];
      if (c < 0x20 || c >= 0x7f || c === 0x5c || (quote && c === 0x27)) {
        buf[at++] = 0x5c;
        buf[at++] = 0x78;
        buf[at++] = HEX[c >> 4];
        buf[at++] = HEX[c & 15];
      } else buf[at++] = c;
    }
    this.at = at;
  }

  done(): Buffer {
    return this.buf.subarray(0, this.at);
  }
}

/**
 * How rows are handed to the engine: {@link LAKE_STRUCTURE} but the stream time as epoch ms, which
 * is cheaper to print than a date; {@link STAGED_SELECT} turns it into the file's columns.
 */
export const STAGED_STRUCTURE = "stream String, seq UInt64, subject String, ts Int64, headers Map(String, String), data String";
export const STAGED_SELECT = "stream, seq, subject, fromUnixTimestamp64Milli(ts, 'UTC') AS stream_time, headers, data";

/** Rows as TabSeparated bytes in {@link STAGED_STRUCTURE}'s column order. */
export function toTabSeparated(rows: readonly LakeRow[]): Buffer {
  const w = new ByteWriter();
  const subjects = new Map<string, Uint8Array>();
  for (const r of rows) {
    w.escaped(utf8.encode(r.stream));
    w.ascii(`\t${r.seq}\t`);
    let subject = subjects.get(r.subject);
    if (!subject) subjects.set(r.subject, (subject = utf8.encode(r.subject)));
    w.escaped(subject);
    w.ascii(`\t${r.timestampMs}\t{`);
    let first = true;
    for (const [k, v] of Object.entries(r.headers)) {
      w.ascii(first ? "'" : ",'");
      first = false;
      w.escaped(utf8.encode(k), true);
      w.ascii("':'");
      w.escaped(utf8.encode(v), true);
      w.ascii("'");
    }
    w.ascii("}\t");
    w.escaped(r.data);
    w.ascii("\n");
  }
  return w.done();
}
