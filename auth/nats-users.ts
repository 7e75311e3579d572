import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { createUser, fromSeed } from "@nats-io/nkeys";
import { ACTOR_NAMES, type ActorName } from "../actors/pipeline.ts";
import { clientKey, CLIENTS_FILE, type StoredNatsUser } from "../nats/connect.ts";
import { baseGrants, inboxPrefixOf, kvGrants, operatorGrants, processGrants, producerGrants, readerGrants, type Grants, type NatsPermissions } from "./nats-permissions.ts";
import { KIND_NAMES, referenceBucket } from "../enrich/index.ts";

/**
 * The NATS users of a sluice deployment, generated from the actor declarations
 * (auth/nats-permissions.ts). Every user signs in with an nkey (the server config holds only the
 * public key); the roles people use with the `nats` CLI (`producer`, `operator`, `reader`,
 * `admin`) also have a password, stored in the server config as a bcrypt hash. Secrets stay in
 * the credentials directory (mode 0700, files 0600), created once and kept: the permissions are
 * derived again on every generation, so a changed declaration carries over without new keys.
 */

/** The roles for people and tools; each process of actors has a user of its own besides. */
export const NATS_ROLES = ["producer", "operator", "reader", "admin", "api", "generator"] as const;
export type NatsRole = (typeof NATS_ROLES)[number];
/** Roles that also sign in with a password (what `nats pub --user … --password …` sends). */
const PASSWORD_ROLES: ReadonlySet<string> = new Set<NatsRole>(["producer", "operator", "reader", "admin"]);
/** bcrypt work factor: a hash costs a fraction of a second, paid once per password (the hash is kept and reused). */
const BCRYPT_COST = 11;

/**
 * Which user each sluice client connects as, by the name it gives `connectNats`. Processes of
 * actors (`sluice:<actor>,…`) are added from the process list. A client not named here finds no
 * generated credentials and must be given some (NATS_NKEY, NATS_USER …).
 */
const CLIENT_ROLES: Readonly<Record<string, NatsRole>> = {
  "sluice:up": "admin",
  "sluice:generate": "generator",
  "sluice:api": "api",
  "sluice:dlq:ls": "operator",
  "sluice:dlq:show": "operator",
  "sluice:dlq:replay": "operator",
  "sluice:dlq:purge": "operator",
  "sluice:lake-replay": "operator",
  "sluice:ref": "operator",
  "sluice:schema": "operator",
  "sluice:jobs": "operator",
  "sluice:lineage": "operator",
  "sluice:report": "operator",
  "sluice:sql": "reader",
  // Reads the schema registry for the typed columns it adds.
  "sluice:migrate": "operator",
  // Records the audit entry of a CLI action (dlq replay, schema add, token create) with the engine's owner.
  "sluice:audit": "operator",
  // It reads every stream's messages, RAW's personal data in clear included: only admin may.
  "sluice:pii-scan": "admin",
};

/** The user of a process running `actors` on one connection: `actor-<name>` for one, `pipeline` for all of them, else `actors-<name>+<name>…`. */
export function processUserName(actors: readonly ActorName[]): string {
  const set = [...new Set(actors)].sort();
  if (set.length === 1) return `actor-${set[0]}`;
  if (set.length === ACTOR_NAMES.length) return "pipeline";
  return `actors-${set.join("+")}`;
}

/**
 * The processes `sluice up` starts: all actors in one, and under `--split` one per actor and the
 * sinks together (they share the embedded engine).
 */
export function standardProcesses(): ActorName[][] {
  const sinks = ACTOR_NAMES.filter((name) => name.startsWith("clickhouse-sink"));
  return [[...ACTOR_NAMES], ...ACTOR_NAMES.map((name) => [name]), sinks];
}

function roleGrants(role: NatsRole, user: string, partitions: number): Grants | undefined {
  switch (role) {
    case "producer":
      return producerGrants(user);
    case "reader":
      return readerGrants(user);
    case "operator":
    case "api":
      // The API's own tokens decide who may replay; its connection needs what replay needs.
      return operatorGrants(user, partitions);
    case "generator": {
      // The generator writes the reference entries of the entities it invents, then publishes to RAW.
      const g = producerGrants(user).merge(baseGrants(user));
      for (const kind of KIND_NAMES) kvGrants(g, referenceBucket(kind), "write");
      return g;
    }
    case "admin":
      return undefined;
  }
}

/** A generated user: its name, permissions (none: everything) and, once loaded, its secrets. */
export interface NatsUser extends StoredNatsUser {
  readonly permissions: NatsPermissions | undefined;
  /** The bcrypt hash of `password`, kept so that regenerating the config does not re-hash. */
  readonly password_bcrypt?: string;
  /** `role` for people and tools, `actors` for a process of actors. */
  readonly role?: NatsRole;
  readonly actors?: readonly ActorName[];
}

export interface NatsUsersOptions {
  readonly partitions: number;
  /** Processes besides {@link standardProcesses} (e.g. `sluice actor window detect`). */
  readonly processes?: readonly (readonly ActorName[])[];
}

/**
 * bcrypt as nats-server reads it: `$2a$`. bcryptjs writes `$2b$`, which differs from `$2a$` only for
 * passwords over 255 bytes (ours are 24 characters), so the hash is the same under either name.
 */
function bcryptHash(password: string): string {
  return bcrypt.hashSync(password, BCRYPT_COST).replace(/^\$2b\$/, () => "$2a$");
}

/** The file of `user`'s secrets in `dir`. */
export const userFile = (dir: string, user: string) => join(dir, `${user}.json`);

function loadOrCreate(dir: string, user: string, withPassword: boolean): StoredNatsUser & { password_bcrypt?: string } {
  const file = userFile(dir, user);
  if (existsSync(file)) {
    const stored = JSON.parse(readFileSync(file, "utf8")) as StoredNatsUser & { password_bcrypt?: string };
    if (!withPassword || stored.password) return stored;
  }
  const kp = createUser();
  const password = withPassword ? randomBytes(18).toString("base64url") : undefined;
  return {
    user,
    nkey: kp.getPublicKey(),
    nkey_seed: new TextDecoder().decode(kp.getSeed()),
    inbox_prefix: inboxPrefixOf(user),
    ...(password ? { password, password_bcrypt: bcryptHash(password) } : {}),
  };
}

function writeSecret(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 });
  // An existing file keeps its mode on write: make sure.
  chmodSync(file, 0o600);
}

/**
 * Creates the users' secrets in `dir` where missing, derives every user's permissions again, and
 * writes each user's file (`<user>.json`, `<user>.nk` seed) and the client index. Returns the users.
 */
export function ensureNatsUsers(dir: string, opts: NatsUsersOptions): NatsUser[] {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const users: NatsUser[] = [];
  const clients: Record<string, string> = {};
  for (const role of NATS_ROLES) {
    const secrets = loadOrCreate(dir, role, PASSWORD_ROLES.has(role));
    users.push({ ...secrets, role, permissions: roleGrants(role, role, opts.partitions)?.permissions() });
  }
  for (const [client, role] of Object.entries(CLIENT_ROLES)) clients[clientKey(client)] = role;
  const seen = new Set<string>();
  for (const actors of [...standardProcesses(), ...(opts.processes ?? [])]) {
    const name = processUserName(actors);
    if (seen.has(name)) continue;
    seen.add(name);
    const secrets = loadOrCreate(dir, name, false);
    users.push({ ...secrets, actors: [...actors], permissions: processGrants(actors, name, opts.partitions).permissions() });
    clients[clientKey(`sluice:${actors.join(",")}`)] = name;
  }
  for (const u of users) {
    const { permissions: _p, ...stored } = u;
    writeSecret(userFile(dir, u.user), JSON.stringify(stored, null, 2) + "\n");
    writeSecret(join(dir, `${u.user}.nk`), u.nkey_seed + "\n");
  }
  writeSecret(join(dir, CLIENTS_FILE), JSON.stringify(clients, null, 2) + "\n");
  return users;
}

/** One user's stored secrets (`sluice creds show`), or undefined when none were generated in `dir`. */
export function readNatsUser(dir: string, user: string): NatsUser | undefined {
  const file = userFile(dir, user);
  if (!existsSync(file)) return undefined;
  const stored = JSON.parse(readFileSync(file, "utf8")) as NatsUser;
  // A seed that does not match its public key is a hand-edited file: refuse it rather than sign in as someone else.
  if (fromSeed(new TextEncoder().encode(stored.nkey_seed)).getPublicKey() !== stored.nkey) {
    throw new Error(`${file}: its nkey seed does not belong to its public key ${stored.nkey}; regenerate it (delete the file, then sluice deploy nats-config or sluice up)`);
  }
  return stored;
}

export interface TlsSettings {
  readonly cert?: string;
  readonly key?: string;
  readonly ca?: string;
  /** Require and check client certificates (mutual TLS). */
  readonly verify?: boolean;
}

/**
 * The `authorization` block (and a `tls` block) for nats-server: one entry per user, an nkey for
 * every user and a bcrypt password for the password roles, with the permissions derived from the
 * declarations. JSON inside nats-server's config syntax; every string is quoted, so `$` in a
 * subject or a hash is never read as a variable.
 */
/** Seconds a client has from connecting to signing in (nats-server's default is 2). */
export const AUTH_TIMEOUT_S = 10;

export function natsAuthorizationConfig(users: readonly NatsUser[], tls?: TlsSettings): string {
  const entries: Array<Record<string, unknown>> = [];
  for (const u of users) {
    const permissions = u.permissions ? { permissions: u.permissions } : {};
    entries.push({ nkey: u.nkey, ...permissions });
    if (u.password_bcrypt) entries.push({ user: u.user, password: u.password_bcrypt, ...permissions });
  }
  const lines = [
    "# Generated by sluice from the actor declarations (auth/nats-permissions.ts): regenerated on every",
    "# `sluice up` and `sluice deploy nats-config`. Secrets are not in this file: nkeys are public keys,",
    "# passwords bcrypt hashes. `sluice creds show <role|user>` prints a user's credentials.",
    // nats-server closes a client that has not signed in 2 s after connecting ("Authentication
    // Timeout"); on a loaded machine an actor process starting up took longer and exited (seen at load 30).
    `authorization ${JSON.stringify({ timeout: AUTH_TIMEOUT_S, users: entries }, null, 2)}`,
  ];
  if (tls?.cert && tls.key) {
    lines.push(`tls ${JSON.stringify({ cert_file: tls.cert, key_file: tls.key, ...(tls.ca ? { ca_file: tls.ca } : {}), ...(tls.verify ? { verify: true } : {}), timeout: 2 }, null, 2)}`);
  } else {
    lines.push(
      "# TLS: give `sluice deploy nats-config` --tls-cert/--tls-key (and --tls-ca, --tls-verify for client",
      "# certificates), or uncomment and fill in:",
      '# tls { cert_file: "/etc/nats/server.pem", key_file: "/etc/nats/server-key.pem", ca_file: "/etc/nats/ca.pem", verify: true, timeout: 2 }',
    );
  }
  return lines.join("\n") + "\n";
}
