import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { connect } from "@nats-io/transport-node";
import { loadConfig } from "../../config/index.ts";
import { connectNats } from "../../nats/connect.ts";
import { readNatsUser, type NatsRole } from "../../auth/nats-users.ts";
import type { NatsServer } from "./nats-server.ts";

/**
 * For a test that means to show what a role or a sluice command may do: its sign-in on a harness
 * nats-server, so it acts as that generated user rather than the test-only probe. On a server
 * without authorization (SLUICE_TEST_NATS_AUTH=off) there is no such user and everyone is anonymous.
 */

/** What a `sluice` child process needs in its environment to sign in as its own generated user on `nats`. */
export function credentialsEnv(nats: NatsServer): Record<string, string> {
  // Without authorization: a directory that does not exist, so no credentials from the working directory are picked up.
  return { SLUICE_NATS_CREDENTIALS: nats.credentialsDir ?? join(nats.dir, "no-credentials") };
}

/** A connection as the generated user of sluice client `name` (e.g. `sluice:sql` signs in as the reader). */
export function connectAsClient(nats: NatsServer, name: string): Promise<NatsConnection> {
  return connectNats(nats.url, loadConfig(credentialsEnv(nats)), name, { log: { info: () => undefined } });
}

/** A connection as a role's generated user (`producer`, `reader`, `operator` …): user and password where the role has one (what `nats pub --user` sends), else its nkey. */
export function connectAsRole(nats: NatsServer, role: NatsRole): Promise<NatsConnection> {
  if (!nats.credentialsDir) return connect({ servers: nats.url });
  const user = readNatsUser(nats.credentialsDir, role);
  if (!user) throw new Error(`the harness server's credentials have no user for role ${role}`);
  if (user.password) return connect({ servers: nats.url, user: user.user, pass: user.password, inboxPrefix: user.inbox_prefix });
  return connectNats(nats.url, loadConfig({ NATS_NKEY: user.nkey_seed, NATS_INBOX_PREFIX: user.inbox_prefix }), `sluice:test-${role}`, { log: { info: () => undefined } });
}
