// deploy/docker-compose.nats-cluster.yml, the override that runs the 3-node NATS cluster beside
// docker-compose.yml: no images can be pulled here, so what is checked is the YAML against what
// `sluice deploy nats-cluster 3` writes when run exactly as the file's header says — the configs
// it mounts exist and are named by the commands, each node listens on its service's name and ports,
// its store dir is on a volume, and sluice gets every node's URL and SLUICE_REPLICAS=3.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, posix } from "node:path";
import { parse as parseYaml } from "yaml";
import { run } from "../../cli/deploy.ts";

const DEPLOY = join(import.meta.dirname, "..", "..", "deploy");
const OVERRIDE = join(DEPLOY, "docker-compose.nats-cluster.yml");

interface Service {
  image?: string;
  command?: string[];
  volumes?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

interface Ctx {
  dir: string;
  base: Compose;
  override: Compose;
  /** The command of the override's header, as given to `sluice deploy`. */
  args: string[];
  /** What the command printed on stderr. */
  printed: string;
}

const test = suite<Ctx>("deploy/docker-compose.nats-cluster.yml against sluice deploy nats-cluster 3");

/** `host:target[:mode]` of a compose volume, or undefined. */
function mount(volumes: readonly string[] | undefined, target: string): string | undefined {
  return volumes?.find((v) => v.split(":")[1] === target)?.split(":")[0];
}

/** A top-level `key: value` of a generated nats-server config (quotes removed). */
function setting(conf: string, key: string): string | undefined {
  return new RegExp(`^\\s*${key}: "?([^"\\n]+)"?$`, "m").exec(conf)?.[1];
}

test.before(async (ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), "sluice-compose-cluster-"));
  ctx.base = parseYaml(readFileSync(join(DEPLOY, "docker-compose.yml"), "utf8")) as Compose;
  const text = readFileSync(OVERRIDE, "utf8");
  ctx.override = parseYaml(text) as Compose;
  const header = /^#\s+npx sluice deploy (nats-cluster .+)$/m.exec(text);
  assert.ok(header, "the header names the command that writes the configs");
  ctx.args = header![1]!.trim().split(/\s+/);
  const out = ctx.args.indexOf("--out");
  assert.is(ctx.args[out + 1], "deploy/nats-cluster", "the configs go where the file mounts them from");
  // Run as written, into a temp dir in place of deploy/nats-cluster.
  const args = [...ctx.args];
  args[out + 1] = join(ctx.dir, "nats-cluster");
  const lines: string[] = [];
  const { error } = console;
  console.error = (...a: unknown[]) => void lines.push(a.join(" "));
  try {
    assert.is(await run(args), 0);
  } finally {
    console.error = error;
  }
  ctx.printed = lines.join("\n");
});

test.after((ctx) => {
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

const nodeServices = ["nats", "nats-2", "nats-3"];

test("each node service runs the config the command wrote for it, with auth.conf beside it, its store on a volume", ({ dir, base, override }) => {
  for (const [i, name] of nodeServices.entries()) {
    const svc = override.services[name]!;
    assert.ok(svc, `service ${name}`);
    const [bin, flag, path] = svc.command ?? [];
    assert.equal([bin, flag], ["nats-server", "--config"], `${name}: runs nats-server with a config`);
    const source = mount(svc.volumes, path!);
    assert.is(source, `./nats-cluster/sluice-n${i + 1}.conf`, `${name}: its config is mounted where the command points`);
    const written = join(dir, source!.replace("./", ""));
    assert.ok(existsSync(written), `${name}: the command wrote ${source}`);
    assert.is(mount(svc.volumes, posix.join(posix.dirname(path!), "auth.conf")), "./nats-cluster/auth.conf", `${name}: the include "auth.conf" resolves beside the config`);
    assert.ok(existsSync(join(dir, "nats-cluster", "auth.conf")));
    const conf = readFileSync(written, "utf8");
    assert.match(conf, /include "auth\.conf"/);
    const store = setting(conf, "store_dir")!;
    const volume = svc.volumes!.map((v) => v.split(":")).find(([src, target]) => !src!.startsWith(".") && (store === target || store.startsWith(`${target}/`)));
    assert.ok(volume, `${name}: its store dir ${store} is on a named volume`);
    assert.ok(volume![0]! in { ...base.volumes, ...override.volumes }, `${name}: volume ${volume![0]} is declared`);
    // The node listens on its service's name, on the ports the healthcheck and the clients use.
    assert.is(setting(conf, "host"), name, `${name}: listens on its service name`);
    assert.is(svc.healthcheck?.test.at(-1), `http://${name}:${setting(conf, "http_port")}/healthz`, `${name}: its healthcheck reaches its monitoring port`);
    for (const other of nodeServices.filter((n) => n !== name)) assert.match(conf, new RegExp(`nats-route://[^@]+@${other}:6222`), `${name}: routes to ${other}`);
    // The image's server has sync_interval, so the command (--server-version) writes it uncommented.
    assert.match(conf, /^\s+sync_interval: 1s$/m, `${name}: sync_interval written for the image's server`);
  }
});

test("the override replaces the base file's single-node mounts at the same targets, and keeps its image", ({ base, override, args }) => {
  const baseNats = base.services.nats!;
  assert.ok(mount(baseNats.volumes, "/etc/nats/auth.conf"), "the base mounts its auth.conf there");
  assert.is(mount(override.services.nats!.volumes, "/etc/nats/auth.conf"), "./nats-cluster/auth.conf", "so the override's replaces it (compose merges volumes by target)");
  assert.equal(override.services["nats-2"]!.image, baseNats.image);
  const version = /^nats:(\d+\.\d+)/.exec(baseNats.image ?? "")?.[1];
  assert.is(args[args.indexOf("--server-version") + 1], version, "the configs are written for the image's nats-server");
  const creds = base.services.sluice!.environment!.SLUICE_NATS_CREDENTIALS!;
  assert.ok(mount(base.services.sluice!.volumes, creds), "the base mounts its credentials at SLUICE_NATS_CREDENTIALS");
  assert.is(mount(override.services.sluice!.volumes, creds), "./nats-cluster/credentials", "the override mounts the cluster's credentials there instead");
});

test("sluice gets what the command says to give it: every node's URL and SLUICE_REPLICAS=3, and waits for every node", ({ dir, override, printed }) => {
  const told = /then run sluice with NATS_URL=(\S+) SLUICE_REPLICAS=(\d+)/.exec(printed);
  assert.ok(told, printed);
  const env = override.services.sluice!.environment!;
  assert.is(env.NATS_URL, told![1], "NATS_URL: every node, as the command prints it");
  assert.is(env.SLUICE_REPLICAS, told![2]);
  assert.is(env.SLUICE_REPLICAS, "3");
  for (const node of ["nats-2", "nats-3"]) assert.equal(override.services.sluice!.depends_on?.[node], { condition: "service_healthy" }, `sluice waits for ${node}`);
  assert.ok(existsSync(join(dir, "nats-cluster", "credentials")), "the command wrote the credentials the override mounts");
  assert.ok(existsSync(join(dirname(OVERRIDE), ".gitignore")) && /^nats-cluster\/$/m.test(readFileSync(join(dirname(OVERRIDE), ".gitignore"), "utf8")), "deploy/nats-cluster (route password, credentials) is git-ignored");
});

test.run();
