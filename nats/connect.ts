import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Config } from "../config/index.ts";
import { AbortedError, withDeadline } from "./deadline.ts";

/** This process among all sluice processes: in its connection names and its `sluice.rpc.sql` replies. */
export const INSTANCE_ID = randomBytes(4).toString("hex");

const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 5_000;
/** One dial; a host that swallows packets must not hold a Ctrl-C for the client's default 20 s. */
const DIAL_TIMEOUT_MS = 5_000;
const DRAIN_TIMEOUT_MS = 3_000;

export interface ConnectOptions {
  /** Ends the wait for an unreachable server (Ctrl-C). */
  readonly signal?: AbortSignal;
  readonly log?: { info(msg: string): void };
  /** false: a single attempt, for a command that has another way to answer (`sluice sql`). */
  readonly wait?: boolean;
  readonly dialTimeoutMs?: number;
}

/** Errors that mean "no server there yet": worth waiting for. Anything else (credentials, a bad URL) is not. */
function serverUnreachable(err: unknown): boolean {
  const e = err as { name?: string; code?: string };
  return e?.name === "ConnectionError" || e?.name === "TimeoutError" ||
    ["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"].includes(e?.code ?? "");
}

/**
 * Connects to NATS, waiting with backoff while the server is unreachable (it may start after
 * us: compose, systemd, a restart), logging once. nats.js's `waitOnFirstConnect` would wait too,
 * but its promise cannot be abandoned on Ctrl-C and says nothing while it waits.
 */
export async function connectNats(url: string, config: Config, name: string, opts: ConnectOptions = {}): Promise<NatsConnection> {
  const { signal } = opts;
  const log = opts.log ?? { info: (m: string) => process.stderr.write(`${m}\n`) };
  const what = `waiting for NATS at ${url}`;
  const waitingSince = Date.now();
  let delay = FIRST_RETRY_MS;
  let announced = false;
  for (;;) {
    const attempt = connect({
      servers: url.split(","),
      name: `${name}#${INSTANCE_ID}`,
      user: config.natsUser,
      pass: config.natsPassword,
      timeout: opts.dialTimeoutMs ?? DIAL_TIMEOUT_MS,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      // Async stack traces build two Error objects per request (every JetStream publish): a fifth
      // of validate's CPU in a profile. Errors still carry their message and subject.
      noAsyncTraces: true,
    });
    try {
      // The dial has its own timeout; the deadline is only there so an abort ends the wait.
      const nc = await withDeadline(attempt, { what, timeoutMs: 2 * (opts.dialTimeoutMs ?? DIAL_TIMEOUT_MS), signal });
      track(nc);
      if (announced) log.info(`connected to NATS at ${url} after ${((Date.now() - waitingSince) / 1000).toFixed(1)} s`);
      return nc;
    } catch (err) {
      // A dial that succeeds after we gave up would be a connection nobody closes.
      attempt.then((late) => late.close(), () => undefined);
      if (err instanceof AbortedError || signal?.aborted) throw new AbortedError(what);
      if (opts.wait === false || !serverUnreachable(err)) throw err;
      if (!announced) {
        log.info(`${what} (retrying): ${(err as Error).message}`);
        announced = true;
      }
      await sleep(delay, undefined, { signal }).catch(() => undefined);
      delay = Math.min(delay * 2, MAX_RETRY_MS);
    }
  }
}

/** Whether each of this process's connections has a server right now, from its status events. */
const connected = new WeakMap<NatsConnection, boolean>();
const live = new Set<NatsConnection>();
let shuttingDown = false;

function track(nc: NatsConnection): void {
  connected.set(nc, true);
  live.add(nc);
  void nc.closed().then(() => live.delete(nc));
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "reconnecting") connected.set(nc, false);
      else if (s.type === "reconnect") connected.set(nc, true);
      else continue;
      // Once shutdown began, a reconnect could land on a different server that took the port
      // (another `sluice up`) and join its consumers: close instead.
      if (shuttingDown) void nc.close().catch(() => undefined);
    }
  })();
}

/**
 * Shutdown began: from now on no connection of this process reconnects. Those without a server
 * are closed at once; the others close when they lose it.
 */
export function stopReconnecting(): void {
  shuttingDown = true;
  for (const nc of live) if (connected.get(nc) === false) void nc.close().catch(() => undefined);
}

/** Drains `nc` when its server is there (subscriptions finish), else closes it; never waits more than a few seconds. */
export async function closeNats(nc: NatsConnection, timeoutMs = DRAIN_TIMEOUT_MS): Promise<void> {
  if (nc.isClosed()) return;
  if (connected.get(nc) === false) return nc.close().catch(() => undefined);
  try {
    await withDeadline(nc.drain(), { what: "nats drain", timeoutMs });
  } catch {
    await nc.close().catch(() => undefined);
  }
}
