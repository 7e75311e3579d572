import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { setImmediate as yieldToLoop } from "node:timers/promises";

/**
 * The API's limits on what a request may cost, in one place: body size, time, who may call it
 * from a browser, what a POST must declare, and how much scoring may queue up.
 */
export interface GuardOptions {
  /** Largest request body in bytes. Default 1 MiB (10 000 predict points fit in about 600 KB). */
  readonly maxBodyBytes?: number;
  /** A request still unanswered after this long gets 504. Default 30 s. */
  readonly requestTimeoutMs?: number;
  /** Origins a browser may call the API from; empty (the default): none but its own. */
  readonly corsOrigins?: readonly string[];
}

export const GUARD_DEFAULTS = { maxBodyBytes: 1024 * 1024, requestTimeoutMs: 30_000 } as const;

type Problem = (c: Context, status: 413 | 415 | 503 | 504, field: string | undefined, message: string, hint: string) => Response;

/**
 * `cors`: only when origins are configured; it goes before authorization, so a browser can read a
 * 401. `limits`: body size, then the exact JSON media type on a POST.
 */
export function guards(opts: GuardOptions, problem: Problem): { cors: MiddlewareHandler[]; limits: MiddlewareHandler[] } {
  const maxSize = opts.maxBodyBytes ?? GUARD_DEFAULTS.maxBodyBytes;
  const limits: MiddlewareHandler[] = [
    bodyLimit({ maxSize, onError: (c) => problem(c, 413, "body", `the body is larger than ${maxSize} bytes`, "send smaller batches") }),
    async (c, next) => {
      if (c.req.method === "POST") {
        const type = c.req.header("content-type");
        // A POST without a body (replay) may leave it out; any declared type must be JSON, exactly —
        // so a cross-site form post (urlencoded, multipart, text/plain) never reaches a handler.
        if (type !== undefined && mediaType(type) !== "application/json") {
          return problem(c, 415, "content-type", `content-type ${JSON.stringify(type.slice(0, 60))} is not application/json`, "send content-type: application/json");
        }
      }
      return next();
    },
  ];
  const origins = opts.corsOrigins ?? [];
  const corsList = origins.length ? [cors({ origin: [...origins], allowHeaders: ["authorization", "content-type"], allowMethods: ["GET", "POST"], maxAge: 600 })] : [];
  return { cors: corsList, limits };
}

/** `application/json; charset=utf-8` → `application/json`. */
export function mediaType(header: string): string {
  return header.split(";")[0]!.trim().toLowerCase();
}

/** Fails a handler that is still running after `ms` with 504, so a slow ClickHouse cannot hold connections forever. */
export function requestTimeout(ms: number, problem: Problem): MiddlewareHandler {
  return async (c, next) => {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<"expired">((resolve) => {
      timer = setTimeout(() => resolve("expired"), ms);
    });
    try {
      const outcome = await Promise.race([next().then(() => "done" as const), expired]);
      if (outcome === "expired") c.res = problem(c, 504, undefined, `the request took longer than ${ms} ms`, "narrow it (a later since, a smaller limit) or retry later");
    } finally {
      clearTimeout(timer);
    }
  };
}

/**
 * Scoring work queued in this process: one job at a time, at most `depth` waiting, each job
 * yielding to the event loop every `chunk` points so the actors sharing the loop keep their turn.
 * A full queue is refused at once ({@link QueueFullError}) rather than letting requests pile up.
 */
export class ScoringQueue {
  private running = false;
  private readonly waiting: Array<() => void> = [];
  readonly depth: number;
  readonly chunk: number;

  constructor(depth = 8, chunk = 256) {
    this.depth = depth;
    this.chunk = chunk;
  }

  get length(): number {
    return this.waiting.length + (this.running ? 1 : 0);
  }

  /** Runs `score(i)` for i in [0, n) in turn with the other jobs; throws QueueFullError when `depth` jobs wait. */
  async run<T>(n: number, score: (i: number) => T): Promise<T[]> {
    if (this.running) {
      if (this.waiting.length >= this.depth) throw new QueueFullError(this.depth);
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.running = true;
    try {
      const out: T[] = [];
      for (let i = 0; i < n; i++) {
        if (i > 0 && i % this.chunk === 0) await yieldToLoop();
        out.push(score(i));
      }
      return out;
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running = false;
    }
  }
}

export class QueueFullError extends Error {
  override name = "QueueFullError";
  readonly depth: number;
  constructor(depth: number) {
    super(`the scoring queue is full (${depth} requests waiting)`);
    this.depth = depth;
  }
}
