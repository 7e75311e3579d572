import type { Inbound } from "../subjects/message.ts";

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
  return { stream: m.stream, seq: m.seq, subject: m.subject, timestampMs: m.timestampMs, headers: Object.fromEntries(m.headers), data: m.data };
}

/** Approximate bytes a row adds to a file before compression: what file-size limits count. */
export function rowBytes(r: LakeRow): number {
  let h = 0;
  for (const [k, v] of Object.entries(r.headers)) h += k.length + v.length;
  return r.data.byteLength + r.subject.length + h + 24;
}

const HEX = "0123456789abcdef";

/**
 * Bytes as a TabSeparated field. Everything outside printable ASCII, and the backslash, is a
 * `\xHH` escape: the engine's text input is then binary-safe (a raw byte ≥ 0x80 would be read
 * as text and replaced when it is not valid UTF-8).
 */
function escapeBytes(bytes: Uint8Array, quote = false): string {
  let out = "";
  for (const c of bytes) {
    if (c < 0x20 || c >= 0x7f || c === 0x5c || (quote && c === 0x27)) out += `\\x${HEX[c >> 4]}${HEX[c & 15]}`;
    else out += String.fromCharCode(c);
  }
  return out;
}

const utf8 = new TextEncoder();
const quoted = (s: string) => `'${escapeBytes(utf8.encode(s), true)}'`;

/** Rows as TabSeparated text in {@link LAKE_STRUCTURE}'s column order. */
export function toTabSeparated(rows: readonly LakeRow[]): string {
  const lines: string[] = [];
  for (const r of rows) {
    const time = new Date(r.timestampMs).toISOString().replace("T", " ").replace("Z", "");
    const headers = `{${Object.entries(r.headers).map(([k, v]) => `${quoted(k)}:${quoted(v)}`).join(",")}}`;
    lines.push(`${escapeBytes(utf8.encode(r.stream))}\t${r.seq}\t${escapeBytes(utf8.encode(r.subject))}\t${time}\t${headers}\t${escapeBytes(r.data)}\n`);
  }
  return lines.join("");
}
