import { loadConfig } from "../config/index.ts";
import { isRole, issueToken, loadTokens, ROLES, saveTokens, tokensPath } from "../auth/tokens.ts";
import { auditEntry } from "../auth/audit.ts";
import { parse, UsageError } from "./args.ts";
import { cliUser, recordAudit } from "./audit.ts";

const USAGE = `sluice api token create --role ${ROLES.join("|")} [--name N] | sluice api token ls | sluice api token revoke <id|name>`;

/**
 * `sluice api token`: bearer tokens for the HTTP API (auth/tokens.ts). `create` prints the token
 * once and stores its SHA-256 in the state dir (mode 0600); the API enforces tokens from the first
 * one on. `revoke` keeps the record, so the token answers "revoked" rather than "unknown".
 */
export async function run(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const { values, positionals } = parse(argv, { role: { type: "string" }, name: { type: "string" } }, USAGE);
  const [noun, verb, ...rest] = positionals;
  if (noun !== "token" || !["create", "ls", "revoke"].includes(verb ?? "")) throw new UsageError(`usage: ${USAGE}`);
  const config = loadConfig(env);
  const path = tokensPath(config.stateDir);
  const records = loadTokens(path);
  if (verb === "create") {
    if (rest.length) throw new UsageError(`usage: ${USAGE}`);
    const role = values.role ?? "";
    if (!isRole(role)) throw new UsageError(`--role ${JSON.stringify(role)}: expected one of ${ROLES.join(", ")}`);
    const name = values.name ?? `${role}-${records.length + 1}`;
    if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(name)) throw new UsageError(`--name ${JSON.stringify(name)}: letters, digits and _ . @ - (up to 64)`);
    if (records.some((r) => r.name === name && !r.revoked_at)) throw new UsageError(`a token named ${name} exists; revoke it first or choose another --name`);
    const { token, record } = issueToken(role, name, cliUser());
    saveTokens(path, [...records, record]);
    console.error(`token ${record.id} (${name}, ${role}) stored as a SHA-256 hash in ${path}; it is shown once, here:`);
    console.log(token);
    await recordAudit(config, auditEntry({ actor: cliUser(), role: "cli", via: "cli", action: "token.create", target: `token:${record.id}`, detail: `${role} ${name}` }));
    return 0;
  }
  if (verb === "ls") {
    if (!records.length) console.log("no tokens: the API is open (unless SLUICE_API_AUTH=required)");
    for (const r of records) console.log(`${r.id}  ${r.role.padEnd(8)}  ${r.name.padEnd(20)}  created ${r.created_at} by ${r.created_by}${r.revoked_at ? `  REVOKED ${r.revoked_at}` : ""}`);
    return 0;
  }
  const [which] = rest;
  if (!which || rest.length > 1) throw new UsageError(`usage: ${USAGE}`);
  const target = records.find((r) => !r.revoked_at && (r.id === which || r.name === which));
  if (!target) throw new UsageError(`no live token with id or name ${JSON.stringify(which)} (sluice api token ls)`);
  saveTokens(path, records.map((r) => (r === target ? { ...r, revoked_at: new Date().toISOString() } : r)));
  console.log(`revoked ${target.id} (${target.name}); the API refuses it within a second`);
  await recordAudit(config, auditEntry({ actor: cliUser(), role: "cli", via: "cli", action: "token.revoke", target: `token:${target.id}`, detail: `${target.role} ${target.name}` }));
  return 0;
}
