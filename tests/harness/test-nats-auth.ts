import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureNatsUsers, natsAuthorizationConfig, processUserName, type NatsUser } from "../../auth/nats-users.ts";
import { DEFAULT_PARTITIONS } from "../../config/index.ts";
import type { ActorName } from "../../actors/pipeline.ts";

/**
 * `SLUICE_TEST_NATS_AUTH` (default `on`; `off` for a server without authorization): every nats-server the harness starts runs with sluice's generated
 * authorization, so each actor and `sluice` process the harness starts signs in as its own
 * least-privilege user (SLUICE_NATS_CREDENTIALS). Test probes that connect without credentials
 * act as {@link TEST_NO_AUTH_USER}, a test-only user with every permission named as nats-server's
 * `no_auth_user`: it exists only in the harness's server config, never in what `sluice up` or
 * `sluice deploy nats-config` write.
 */
export function testNatsAuthOn(env: NodeJS.ProcessEnv = process.env): boolean {
  const raw = env.SLUICE_TEST_NATS_AUTH || "on";
  if (raw !== "on" && raw !== "off") throw new Error(`SLUICE_TEST_NATS_AUTH=${JSON.stringify(raw)}: expected on or off`);
  return raw === "on";
}

export const TEST_NO_AUTH_USER = "sluice-test-probe";

/**
 * A directory of the standard users' generated secrets (nkeys; passwords with their bcrypt hashes)
 * that tests/run.ts makes once per suite run. Every harness server starts from a copy of it:
 * ensureNatsUsers keeps secrets it finds and only derives the permissions again, as it does for a
 * deployment's kept credentials directory. Generating them costs about 1.5 s of CPU per server
 * (four bcrypt hashes at cost 11 in pure JS), which on the suite's 2 cores was minutes per run.
 */
export const TEST_NATS_SECRETS_ENV = "SLUICE_TEST_NATS_SECRETS";

/** Generates the standard users' secrets into a new directory and returns it (the caller removes it). */
export function generateTestNatsSecrets(): string {
  const dir = mkdtempSync(join(tmpdir(), "sluice-test-nats-secrets-"));
  ensureNatsUsers(dir, { partitions: DEFAULT_PARTITIONS });
  return dir;
}

let secretsOfThisProcess: string | undefined;
/** The suite run's secrets, or (a test file run alone) ones generated once for this process. */
function sharedTestNatsSecrets(): string {
  const fromRunner = process.env[TEST_NATS_SECRETS_ENV];
  if (fromRunner && existsSync(fromRunner)) return fromRunner;
  if (!secretsOfThisProcess) {
    const dir = generateTestNatsSecrets();
    secretsOfThisProcess = dir;
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  }
  return secretsOfThisProcess;
}

/** Puts a copy of the shared secrets into `dir` (created), so that ensureNatsUsers on it hashes nothing. */
export function seedTestNatsSecrets(dir: string): void {
  cpSync(sharedTestNatsSecrets(), dir, { recursive: true });
}

/** The generated users of one harness nats-server, with the test-only probe user beside them. */
export class TestNatsUsers {
  readonly credentialsDir = mkdtempSync(join(tmpdir(), "sluice-test-nats-creds-"));
  private readonly probePassword = randomBytes(12).toString("base64url");
  private readonly processes: ActorName[][] = [];
  private partitions = DEFAULT_PARTITIONS;
  private users: NatsUser[];

  constructor() {
    seedTestNatsSecrets(this.credentialsDir);
    this.users = ensureNatsUsers(this.credentialsDir, { partitions: this.partitions });
  }

  has(actors: readonly ActorName[], partitions: number): boolean {
    const name = processUserName(actors);
    return partitions === this.partitions && this.users.some((u) => u.user === name);
  }

  /** Adds the user of a process running `actors` (its permissions for `partitions`); the server must reload its config after. */
  addProcess(actors: readonly ActorName[], partitions: number): void {
    this.processes.push([...actors]);
    this.partitions = partitions;
    this.users = ensureNatsUsers(this.credentialsDir, { partitions, processes: this.processes });
  }

  /** The nats-server config text: the generated `authorization` block plus the probe user, and `no_auth_user` naming it. */
  configText(): string {
    const generated = natsAuthorizationConfig(this.users);
    const probe = JSON.stringify({ user: TEST_NO_AUTH_USER, password: this.probePassword });
    const marker = '"users": [';
    if (!generated.includes(marker)) throw new Error("auth/nats-users.ts natsAuthorizationConfig no longer writes a users list the harness can add its probe user to");
    return generated.replace(marker, `${marker}\n    ${probe},`) + `no_auth_user: "${TEST_NO_AUTH_USER}"\n`;
  }

  /** The user name of a public nkey (the server reports nkey users by their key). */
  nameOf(authorizedUser: string): string {
    return this.users.find((u) => u.nkey === authorizedUser)?.user ?? authorizedUser;
  }

  remove(): void {
    rmSync(this.credentialsDir, { recursive: true, force: true });
  }
}
