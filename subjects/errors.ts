/**
 * Errors classified by what the runtime should do with the message that caused them.
 * Checked by `name` rather than `instanceof`, so errors from other packages or copies of
 * this module classify the same way.
 */

/** The message can never succeed (bad JSON, schema violation): dead-letter it with this reason. */
export class PoisonError extends Error {
  /** Short stable code for grouping dead letters, e.g. `schema`, `json`, `late`. */
  readonly code: string;
  /** Where in the message it failed, e.g. `/temperature`. */
  readonly field: string | undefined;
  /**
   * What the dead letter carries instead of the message's own bytes: the message with its
   * personal fields protected (pii/), so the clear value stays in the stream it came from.
   */
  readonly body: Uint8Array | undefined;
  constructor(code: string, message: string, opts: { field?: string; cause?: unknown; body?: Uint8Array } = {}) {
    super(message, { cause: opts.cause });
    this.name = "PoisonError";
    this.code = code;
    this.field = opts.field;
    this.body = opts.body;
  }
}

/** A dependency is unavailable (ClickHouse down, a timeout): try again after `delayMs`. */
export class RetryableError extends Error {
  readonly delayMs: number;
  constructor(message: string, opts: { delayMs?: number; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = "RetryableError";
    this.delayMs = opts.delayMs ?? 1_000;
  }
}

export function isPoison(err: unknown): err is PoisonError {
  return err instanceof Error && err.name === "PoisonError" && "code" in err;
}

export function isRetryable(err: unknown): err is RetryableError {
  return err instanceof Error && err.name === "RetryableError" && "delayMs" in err;
}

export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
