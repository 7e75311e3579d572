/**
 * Reads an event time the way producers write it: RFC 3339 text (`{{TimeStamp}}` in `nats pub`),
 * or a unix time in seconds, milliseconds, microseconds or nanoseconds (`{{Unix}}`, `{{UnixNano}}`),
 * as a number or as digits in a string. The unit is told by magnitude. Returns epoch ms, or
 * undefined when the value is no time at all.
 */
export function parseEventTime(value: unknown): number | undefined {
  if (typeof value === "number") return fromUnix(value);
  if (typeof value !== "string" || value.length === 0) return undefined;
  if (/^[0-9]{1,19}(\.[0-9]{1,9})?$/.test(value)) return fromUnix(Number(value));
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

function fromUnix(n: number): number | undefined {
  if (!Number.isFinite(n) || n < 0) return undefined;
  if (n < 1e11) return Math.round(n * 1000);
  if (n < 1e14) return Math.round(n);
  if (n < 1e17) return Math.round(n / 1e3);
  return Math.round(n / 1e6);
}
