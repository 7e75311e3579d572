import type { Outbound } from "./actor.ts";

/** Room left for the trace context and the NATS header framing the runtime adds to every publish. */
const HEADER_ALLOWANCE = 512;
const encoder = new TextEncoder();

function headerBytes(headers: Readonly<Record<string, string>> | undefined): number {
  let n = HEADER_ALLOWANCE;
  for (const [k, v] of Object.entries(headers ?? {})) n += encoder.encode(k).length + encoder.encode(v).length + 4;
  return n;
}

/** Bytes an output takes on the wire, near enough to compare with the server's `max_payload`. */
export function wireSize(out: Outbound): number {
  const body = typeof out.data === "string" ? encoder.encode(out.data).length : out.data.length;
  return body + headerBytes(out.headers) + (out.msgId ? out.msgId.length + 16 : 0);
}

/**
 * A dead letter's body cut to fit under `maxPayload` with its headers, or the body as it is.
 * A message at the server's limit cannot travel on with reason headers added; its first bytes
 * still show what it was, and the header named by the caller records the original size.
 */
export function fitBody(data: Uint8Array, headers: Readonly<Record<string, string>>, maxPayload: number): Uint8Array {
  const room = maxPayload - headerBytes(headers) - 64;
  return data.length <= room ? data : data.subarray(0, Math.max(0, room));
}
