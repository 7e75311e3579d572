import { parseSinceMs } from "../config/duration.ts";
import { isSource, SOURCES, type Source } from "../subjects/sources.ts";

/** A request the client has to correct: 400 with the field and how to fix it. */
export class RequestError extends Error {
  override name = "RequestError";
  readonly field: string;
  readonly hint: string;
  readonly status: 400 | 404 | 413 | 415;
  constructor(field: string, message: string, hint: string, status: 400 | 404 | 413 | 415 = 400) {
    super(message);
    this.field = field;
    this.hint = hint;
    this.status = status;
  }
}

/** Keys, metrics and series names: subject-token characters only (`=` for group keys such as `merchant=m-1`), so they are safe in SQL even before quoting. */
const NAME = /^[A-Za-z0-9_.:@=\-]{1,200}$/;

export function source(value: string | undefined, field = "source", required = true): Source | undefined {
  if (value === undefined || value === "") {
    if (!required) return undefined;
    throw new RequestError(field, `${field} is required`, `one of ${SOURCES.join(", ")}`);
  }
  if (!isSource(value)) throw new RequestError(field, `${field} ${JSON.stringify(value.slice(0, 40))} is not a source`, `one of ${SOURCES.join(", ")}`);
  return value;
}

export function name(value: string | undefined, field: string, required: boolean): string | undefined {
  if (value === undefined || value === "") {
    if (!required) return undefined;
    throw new RequestError(field, `${field} is required`, "letters, digits and _ . : @ - (up to 200)");
  }
  if (!NAME.test(value)) throw new RequestError(field, `${field} has characters outside letters, digits and _ . : @ -`, "use the key as it appears in the event's subject");
  return value;
}

/** How far back `since` may reach: further is a scan of whole tables (FINAL) for one request. */
export const MAX_SINCE_DAYS = 31;

/** `since` as epoch ms: RFC 3339, epoch ms, or a duration back from now such as 15m, 2h, 7d; at most {@link MAX_SINCE_DAYS} back. */
export function since(value: string | undefined, now: number, fallbackMs: number): number {
  if (value === undefined || value === "") return now - fallbackMs;
  const at = parseSinceMs(value, now);
  if (at !== undefined && now - at > MAX_SINCE_DAYS * 86_400_000) {
    throw new RequestError("since", `since ${JSON.stringify(value.slice(0, 40))} is more than ${MAX_SINCE_DAYS} days back`, `at most ${MAX_SINCE_DAYS}d (since=${MAX_SINCE_DAYS}d or a later time); older data: sluice sql or the lake`);
  }
  if (at !== undefined) return at;
  throw new RequestError("since", `since ${JSON.stringify(value.slice(0, 40))} is not a time`, "RFC 3339 (2026-01-01T00:00:00Z), epoch milliseconds, or a duration back from now (15m, 2h, 7d)");
}

export function number(value: string | undefined, field: string, fallback: number, min: number, max: number, integer = false): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new RequestError(field, `${field} ${JSON.stringify(value.slice(0, 40))} is out of range`, `${integer ? "a whole number" : "a number"} from ${min} to ${max}`);
  }
  return n;
}
