import { readFileSync } from "node:fs";
import { connectNats } from "../nats/connect.ts";
import { loadConfig } from "../config/index.ts";
import { auditEntry } from "../auth/audit.ts";
import { cliUser, recordAudit } from "./audit.ts";
import { formatTable } from "../clickhouse/format.ts";
import {
  COMPATIBILITY_MODES,
  COMPATIBILITY_POLICIES,
  formatReport,
  isCompatibilityMode,
  isCompatibilityPolicy,
  SchemaRegistry,
  type CompatibilityMode,
  type CompatibilityPolicy,
} from "../subjects/registry/index.ts";
import { typedColumnsOf } from "../clickhouse/columns.ts";
import { isSource, SOURCES, type Source } from "../subjects/sources.ts";
import { parse, UsageError } from "./args.ts";
import { readLocalNatsUrl } from "./state.ts";

const USAGE = [
  "sluice schema list",
  "sluice schema show <source>[@version]",
  "sluice schema check <source> <file> [--mode backward|forward|full|none] [--policy lenient|strict]",
  "sluice schema add <source> <file> [--mode backward|forward|full|none] [--policy lenient|strict]",
  "sluice schema mode <source> <backward|forward|full|none> [--policy lenient|strict]",
].join("\n       ");

function source(value: string | undefined): Source {
  if (!value) throw new UsageError(`name a source (${SOURCES.join(", ")})\nusage: ${USAGE}`);
  if (!isSource(value)) throw new UsageError(`unknown source "${value}"; expected one of ${SOURCES.join(", ")}`);
  return value;
}

function mode(value: string | undefined, flag: string): CompatibilityMode | undefined {
  if (value === undefined) return undefined;
  if (!isCompatibilityMode(value)) throw new UsageError(`${flag} ${JSON.stringify(value)}: expected one of ${COMPATIBILITY_MODES.join(", ")}`);
  return value;
}

function policy(value: string | undefined): CompatibilityPolicy | undefined {
  if (value === undefined) return undefined;
  if (!isCompatibilityPolicy(value)) throw new UsageError(`--policy ${JSON.stringify(value)}: expected one of ${COMPATIBILITY_POLICIES.join(", ")}`);
  return value;
}

function readSchema(file: string | undefined): unknown {
  if (!file) throw new UsageError(`name the schema file, e.g. subjects/schemas/iot.v1.json\nusage: ${USAGE}`);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file} is not JSON: ${(err as Error).message}`);
  }
}

/** `sluice schema …`: the schema registry in NATS KV. Exit 1 when a schema is incompatible. */
export async function run(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const { values, positionals } = parse(argv, { mode: { type: "string" }, policy: { type: "string" } }, USAGE);
  const [sub, ...args] = positionals;
  if (!sub) throw new UsageError(`name a subcommand\nusage: ${USAGE}`);
  if (!["list", "show", "check", "add", "mode"].includes(sub)) throw new UsageError(`unknown subcommand "${sub}"\nusage: ${USAGE}`);
  if ((sub === "list" || sub === "show") && (values.mode || values.policy)) throw new UsageError(`--mode and --policy belong to check, add and mode\nusage: ${USAGE}`);
  const opts = { mode: mode(values.mode, "--mode"), policy: policy(values.policy) };
  // Parse everything the user typed before connecting, so a typo never waits on the network.
  const [name, versionText] = (args[0] ?? "").split("@");
  const target = sub === "list" ? undefined : source(name);
  const schema = sub === "check" || sub === "add" ? readSchema(args[1]) : undefined;
  const newMode = sub === "mode" ? mode(args[1], "mode") : undefined;
  if (sub === "mode" && !newMode) throw new UsageError(`name the mode: ${COMPATIBILITY_MODES.join(", ")}\nusage: ${USAGE}`);
  if (versionText !== undefined && !/^[1-9][0-9]*$/.test(versionText)) throw new UsageError(`"${args[0]}": the version after @ must be a whole number, e.g. iot@2`);

  const config = loadConfig(env);
  const url = config.natsUrl ?? readLocalNatsUrl(config.stateDir);
  if (!url) throw new UsageError("no NATS server: set NATS_URL (e.g. NATS_URL=nats://127.0.0.1:4222) or start one with `sluice up`");
  // As the operator role under NATS authorization (nats/connect.ts): only it may write the registry.
  const nc = await connectNats(url, config, "sluice:schema", { wait: false });
  try {
    const registry = await SchemaRegistry.open(nc);
    switch (sub) {
      case "list": {
        const rows = registry.list().map((s) => [s.source, s.current, s.versions.map((v) => `v${v}`).join(" "), s.mode, s.policy]);
        console.log(formatTable({ columns: ["source", "current", "versions", "mode", "policy"].map((n) => ({ name: n, type: n === "current" ? "UInt32" : "String" })), rows }));
        return 0;
      }
      case "show": {
        const version = versionText ? Number(versionText) : registry.current(target!);
        const entry = registry.get(target!, version);
        if (!entry) throw new UsageError(`${target} v${version} is not registered; registered: ${registry.versions(target!).map((v) => `v${v}`).join(", ")}`);
        console.log(JSON.stringify(entry.schema, null, 2));
        console.error(`# ${target} v${version} of ${registry.versions(target!).length}, registered ${entry.registeredAt.toISOString()}; columns: ${typedColumnsOf(target!, entry.schema).map((c) => c.name).join(", ")}`);
        return 0;
      }
      case "check": {
        const report = registry.check(target!, schema, opts);
        console.log(formatReport(target!, report));
        return report.compatible ? 0 : 1;
      }
      case "add": {
        const { version, created, report } = await registry.add(target!, schema, opts);
        console.log(created ? `${formatReport(target!, report)}\nregistered ${target} v${version}; validate uses it within seconds` : `${target} v${version} is this schema already; nothing registered`);
        if (created) await recordAudit(config, auditEntry({ actor: cliUser(), role: "cli", via: "cli", action: "schema.change", target: `schema:${target}@v${version}`, detail: "add" }));
        return 0;
      }
      default: {
        await registry.setConfig(target!, { ...registry.config(target!), mode: newMode!, ...(opts.policy ? { policy: opts.policy } : {}) });
        const now = registry.config(target!);
        console.log(`${target}: mode ${now.mode}, policy ${now.policy}`);
        await recordAudit(config, auditEntry({ actor: cliUser(), role: "cli", via: "cli", action: "schema.change", target: `schema:${target}`, detail: `mode ${now.mode}, policy ${now.policy}` }));
        return 0;
      }
    }
  } finally {
    await nc.close();
  }
}
