import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, credsAuthenticator, errors, nkeyAuthenticator, type Authenticator, type NatsConnection, type TlsOptions } from "@nats-io/transport-node";
import type { Config } from "../config/index.ts";
import { AbortedError, withDeadline } from "./deadline.ts";
import { countDenial } from "../auth/denials.ts";

/** This process among all sluice processes: in its connection names and its `sluice.rpc.sql` replies. */
export const INSTANCE_ID = randomBytes(4).toString("hex");

const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 5_000;
/** One dial; a host that swallows packets must not hold a Ctrl-C for the client's default 20 s. */
const DIAL_TIMEOUT_MS = 5_000;
const DRAIN_TIMEOUT_MS = 3_000;
/**
 * A server that hangs or is cut off (tests/cluster/partition.test.ts stops one with SIGSTOP) keeps
 * its TCP connections open: only unanswered pings tell the client to move to another server of
 * the URL list, after (MAX_PINGS_OUT + 1) intervals. nats.js's defaults (every 2 min, 2
 * outstanding) leave a client on a hung cluster node for about 4 min; 5 s pings still left every
 * request of the pipeline unanswered for 20 s. These give up on it after 8 s. A stalled process
 * does not trip them: each ping's timer is re-armed after it fires, and the socket (with the
 * pongs) is read between two of them.
 */
export const PING_INTERVAL_MS = 2_000;
export const MAX_PINGS_OUT = 3;

export interface ConnectOptions {
  /** Ends the wait for an unreachable server (Ctrl-C). */
  readonly signal?: AbortSignal;
  readonly log?: { info(msg: string): void };
  /** false: a single attempt, for a command that has another way to answer (`sluice sql`). */
  readonly wait?: boolean;
  readonly dialTimeoutMs?: number;
}

/** In the generated credentials directory: which user each sluice client connects as (auth/nats-users.ts writes it). */
export const CLIENTS_FILE = "clients.json";

/** A generated NATS user's secrets as stored in `<credentials dir>/<user>.json` (mode 0600). */
export interface StoredNatsUser {
  readonly user: string;
  /** Public nkey (what the server config holds). */
  readonly nkey: string;
  readonly nkey_seed: string;
  /** The only inbox prefix this user may subscribe to. */
  readonly inbox_prefix: string;
  readonly password?: string;
}

/** A client's name as the credentials index keys it: a process's actor list in sorted order. */
export function clientKey(name: string): string {
  const m = /^sluice:([a-z0-9-]+(?:,[a-z0-9-]+)+)$/.exec(name);
  return m ? `sluice:${[...new Set(m[1].split(","))].sort().join(",")}` : name;
}

/** How one client signs in to NATS, and a description for errors (never the secret). */
export interface NatsSignIn {
  readonly authenticator?: Authenticator;
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
  readonly inboxPrefix?: string;
  readonly tls?: TlsOptions;
  readonly as: string;
}

/** The generated user that client `name` connects as, when `dir` has one for it. */
export function generatedUserFor(dir: string, name: string): StoredNatsUser | undefined {
  const index = join(dir, CLIENTS_FILE);
  if (!existsSync(index)) return undefined;
  const user = (JSON.parse(readFileSync(index, "utf8")) as Record<string, string>)[clientKey(name)];
  const file = user && join(dir, `${user}.json`);
  return file && existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as StoredNatsUser) : undefined;
}

const seedBytes = (text: string) => new TextEncoder().encode(text.trim());

/**
 * The sign-in for client `name`: what the environment gives (NATS_CREDS, NATS_NKEY — a seed or a
 * file holding one —, NATS_TOKEN, NATS_USER/NATS_PASSWORD, in that order), else the generated user
 * of this client in the credentials directory (`sluice up`, `sluice deploy nats-config`), else none.
 * NATS_TLS_CA/CERT/KEY apply to every one.
 */
export function signInFor(config: Config, name: string): NatsSignIn {
  const tls: TlsOptions | undefined = config.natsTls ? { caFile: config.natsTls.ca, certFile: config.natsTls.cert, keyFile: config.natsTls.key } : undefined;
  const inboxPrefix = config.natsInboxPrefix;
  if (config.natsCreds) return { authenticator: credsAuthenticator(readFileSync(config.natsCreds)), inboxPrefix, tls, as: "the NATS_CREDS file" };
  if (config.natsNkey) {
    const seed = config.natsNkey.startsWith("SU") ? config.natsNkey : readFileSync(config.natsNkey, "utf8");
    return { authenticator: nkeyAuthenticator(seedBytes(seed)), inboxPrefix, tls, as: "the NATS_NKEY seed" };
  }
  if (config.natsToken) return { token: config.natsToken, inboxPrefix, tls, as: "NATS_TOKEN" };
  if (config.natsUser) return { user: config.natsUser, pass: config.natsPassword, inboxPrefix, tls, as: `NATS_USER ${config.natsUser}` };
  const generated = generatedUserFor(config.natsCredentialsDir, name);
  if (generated) return { authenticator: nkeyAuthenticator(seedBytes(generated.nkey_seed)), inboxPrefix: inboxPrefix ?? generated.inbox_prefix, tls, as: `the generated user ${generated.user}` };
  return { tls, as: "no credentials" };
}

/** The server refused who we are: say which sign-in was used and how to get the right one. */
export class NatsAuthError extends Error {
  constructor(url: string, name: string, as: string, cause: unknown) {
    super(
      `NATS at ${url} refused ${name}, signed in with ${as} (${(cause as Error)?.message ?? String(cause)}); ` +
        "sluice up and sluice deploy nats-config generate a user per client: set NATS_NKEY, NATS_USER/NATS_PASSWORD or NATS_CREDS " +
        "(sluice creds show <role> prints them), or point SLUICE_NATS_CREDENTIALS at the generated credentials",
      { cause },
    );
    this.name = "NatsAuthError";
  }
}

const isAuthError = (err: unknown) => /authorization|authentication|auth/i.test(`${(err as Error)?.name} ${(err as Error)?.message}`);

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
  const { as, ...signIn } = signInFor(config, name);
  for (;;) {
    const attempt = connect({
      servers: url.split(","),
      name: `${name}#${INSTANCE_ID}`,
      ...signIn,
      timeout: opts.dialTimeoutMs ?? DIAL_TIMEOUT_MS,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      pingInterval: PING_INTERVAL_MS,
      maxPingOut: MAX_PINGS_OUT,
      // Async stack traces build two Error objects per request (every JetStream publish): a fifth
      // of validate's CPU in a profile. Errors still carry their message and subject.
      noAsyncTraces: true,
    });
    try {
      // The dial has its own timeout; the deadline is only there so an abort ends the wait.
      const nc = await withDeadline(attempt, { what, timeoutMs: 2 * (opts.dialTimeoutMs ?? DIAL_TIMEOUT_MS), signal });
      track(nc, log, `${name} (${as})`);
      if (announced) log.info(`connected to NATS at ${url} after ${((Date.now() - waitingSince) / 1000).toFixed(1)} s`);
      return nc;
    } catch (err) {
      // A dial that succeeds after we gave up would be a connection nobody closes.
      attempt.then((late) => late.close(), () => undefined);
      if (err instanceof AbortedError || signal?.aborted) throw new AbortedError(what);
      if (isAuthError(err)) throw new NatsAuthError(url, name, as, err);
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

function track(nc: NatsConnection, log: { info(msg: string): void }, who: string): void {
  connected.set(nc, true);
  live.add(nc);
  void nc.closed().then(() => live.delete(nc));
  const refused = new Set<string>();
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "error" && s.error instanceof errors.PermissionViolationError) {
        // Counted every time, logged once per subject: a loop that keeps trying must not flood the log.
        countDenial("nats", s.error.operation);
        const what = `${s.error.operation} ${s.error.subject}`;
        if (!refused.has(what) && refused.size < 100) {
          refused.add(what);
          log.info(`NATS refused ${what} to ${who}: not in that user's permissions (auth/nats-permissions.ts derives them from the actor declarations; regenerate with sluice deploy nats-config or restart sluice up)`);
        }
        continue;
      }
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
