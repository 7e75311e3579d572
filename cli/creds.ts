import { existsSync, readdirSync } from "node:fs";
import { loadConfig, type Config } from "../config/index.ts";
import { readNatsUser, userFile, type NatsUser } from "../auth/nats-users.ts";
import { parse, UsageError } from "./args.ts";

const USAGE = "sluice creds show <role|user> [--format text|env|json] | sluice creds ls";

/**
 * ` --user <u> --password <p>` for the `nats` CLI as `user` (a role with a password), from the
 * generated credentials; "" when authorization is off or none were generated. Passwords are
 * base64url, so the flags need no quoting.
 */
export function natsCliFlags(config: Config, user: string): string {
  if (!config.natsAuth) return "";
  const stored = readNatsUser(config.natsCredentialsDir, user);
  return stored?.password ? ` --user ${stored.user} --password ${stored.password}` : "";
}

function describe(u: NatsUser, dir: string, format: string): string {
  const seedFile = userFile(dir, u.user).replace(/\.json$/, ".nk");
  if (format === "json") return JSON.stringify({ user: u.user, password: u.password, nkey: u.nkey, nkey_seed_file: seedFile, inbox_prefix: u.inbox_prefix, role: u.role, actors: u.actors }, null, 2);
  // For `eval "$(sluice creds show producer --format env)"`, read by sluice and by the `nats` CLI:
  // user and password where the user has one, else the nkey; and the inbox prefix it may use.
  if (format === "env") {
    const signIn = u.password ? [`export NATS_USER=${u.user}`, `export NATS_PASSWORD=${u.password}`] : [`export NATS_NKEY=${seedFile}`];
    return [...signIn, `export NATS_INBOX_PREFIX=${u.inbox_prefix}`].join("\n");
  }
  const lines = [
    `user          ${u.user}${u.role ? ` (role ${u.role})` : ""}${u.actors ? ` (actors ${u.actors.join(", ")})` : ""}`,
    ...(u.password ? [`password      ${u.password}`] : []),
    `nkey          ${u.nkey}`,
    `nkey seed     ${seedFile}`,
    `inbox prefix  ${u.inbox_prefix}`,
    "",
    ...(u.password ? [`nats --user ${u.user} --password ${u.password} …`] : []),
    `nats --nkey ${seedFile} --inbox-prefix ${u.inbox_prefix} …`,
    `NATS_NKEY=${seedFile} NATS_INBOX_PREFIX=${u.inbox_prefix} sluice …`,
  ];
  return lines.join("\n");
}

/** `sluice creds`: the generated NATS users' credentials (from `sluice up` or `sluice deploy nats-config`). */
export async function run(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const { values, positionals } = parse(argv, { format: { type: "string", default: "text" } }, USAGE);
  const config = loadConfig(env);
  const dir = config.natsCredentialsDir;
  const [sub, name, ...rest] = positionals;
  if (sub === "ls" && !name) {
    if (!existsSync(dir)) throw new UsageError(`no NATS credentials in ${dir}: sluice up (with authorization on) or sluice deploy nats-config --out <dir> generates them`);
    const users = readdirSync(dir, { withFileTypes: true }).filter((f) => f.isFile() && f.name.endsWith(".json") && f.name !== "clients.json").map((f) => f.name.slice(0, -5)).sort();
    for (const user of users) {
      const u = readNatsUser(dir, user)!;
      console.log(`${user.padEnd(24)} ${u.role ? `role ${u.role}` : `actors ${u.actors?.join(",")}`}${u.password ? " (password and nkey)" : " (nkey)"}`);
    }
    return 0;
  }
  if (sub !== "show" || !name || rest.length) throw new UsageError(`usage: ${USAGE}`);
  if (!["text", "env", "json"].includes(values.format!)) throw new UsageError(`--format ${values.format}: expected text, env or json`);
  const user = readNatsUser(dir, name);
  if (!user) throw new UsageError(`no NATS user ${name} in ${dir}: sluice up (with authorization on) or sluice deploy nats-config --out <dir> generates them; sluice creds ls lists them`);
  console.log(describe(user, dir, values.format!));
  return 0;
}
