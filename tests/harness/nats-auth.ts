import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { loadConfig, type Config } from "../../config/index.ts";
import { ensureNatsUsers, natsAuthorizationConfig, type NatsUser } from "../../auth/nats-users.ts";
import { closeNats, connectNats } from "../../nats/connect.ts";
import { ensureStreams } from "../../subjects/setup.ts";
import { SchemaRegistry } from "../../subjects/registry/index.ts";
import { streamOverrides } from "../../actors/pipeline.ts";
import { ensureBucketReplicas } from "../../actors/replication.ts";
import { NatsServer } from "./nats-server.ts";
import { seedTestNatsSecrets } from "./test-nats-auth.ts";

/** What `sluice up` does as admin before any actor starts (under authorization the actors may only check streams and read the registry): streams, shipped schemas. */
export async function setUpLikeSluiceUp(admin: NatsConnection, config: Config): Promise<void> {
  await ensureStreams(await jetstreamManager(admin), streamOverrides(config));
  await ensureBucketReplicas(admin, config);
  await (await SchemaRegistry.open(admin)).close();
}

/** A nats-server with sluice's generated authorization, set up as `sluice up` sets it up (streams and shipped schemas, as admin). */
export interface AuthorizedNats {
  readonly nats: NatsServer;
  readonly credentialsDir: string;
  readonly users: readonly NatsUser[];
  /** Connected as `admin`. */
  readonly admin: NatsConnection;
  /** Environment a sluice process or `loadConfig` needs to sign in as its generated user. */
  readonly env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startAuthorizedNats(opts: { partitions?: number } = {}): Promise<AuthorizedNats> {
  const credentialsDir = mkdtempSync(join(tmpdir(), "sluice-nats-creds-"));
  const env = { SLUICE_NATS_CREDENTIALS: credentialsDir };
  const config = loadConfig(env);
  seedTestNatsSecrets(credentialsDir);
  const users = ensureNatsUsers(credentialsDir, { partitions: opts.partitions ?? config.partitions });
  const nats = await NatsServer.start({ authorization: natsAuthorizationConfig(users) });
  const admin = await connectNats(nats.url, config, "sluice:up");
  await setUpLikeSluiceUp(admin, config);
  return {
    nats,
    credentialsDir,
    users,
    admin,
    env,
    async stop() {
      await closeNats(admin);
      await nats.stop();
      rmSync(credentialsDir, { recursive: true, force: true });
    },
  };
}
