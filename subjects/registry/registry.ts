import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV, type KvEntry, type KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/transport-node";
import type { SchemaObject } from "ajv";
import { setTimeout as sleep } from "node:timers/promises";
import { SHIPPED_SCHEMAS } from "../schemas/index.ts";
import { upcastSteps } from "../schemas/migrations.ts";
import { isSource, KEY_FIELD, SOURCES, type Source } from "../sources.ts";
import { createAjv } from "./ajv.ts";
import { checkCompatibility, formatReport, type CompatibilityMode, type CompatibilityPolicy, type CompatibilityReport } from "./compat.ts";

/**
 * The KV bucket that holds every schema version and each source's compatibility settings:
 * `schema.<source>.<version>` → the JSON Schema, `config.<source>` → {@link SourceConfig}.
 * Versions are written with `create`, so a version, once registered, never changes.
 */
export const REGISTRY_BUCKET = "sluice_schemas";

export interface SourceConfig {
  readonly mode: CompatibilityMode;
  readonly policy: CompatibilityPolicy;
}
export const DEFAULT_CONFIG: SourceConfig = Object.freeze({ mode: "backward", policy: "lenient" });

export interface RegisteredSchema {
  readonly source: Source;
  readonly version: number;
  readonly schema: SchemaObject;
  /** KV revision of the entry; grows with every write to the bucket. */
  readonly revision: number;
  readonly registeredAt: Date;
}

export interface SourceSummary {
  readonly source: Source;
  readonly versions: readonly number[];
  readonly current: number;
  readonly mode: CompatibilityMode;
  readonly policy: CompatibilityPolicy;
}

export type RegistryChange = { readonly kind: "schema"; readonly source: Source; readonly version: number } | { readonly kind: "config"; readonly source: Source };

/** Where the registry writes its one-line notices. */
export interface RegistryLogger {
  info(message: string): void;
  warn(message: string): void;
}

/** A schema that is not valid for a source: bad JSON Schema, a missing key or time field, a broken upcast. */
export class InvalidSchemaError extends Error {
  readonly source: string;
  constructor(source: string, message: string, opts: { cause?: unknown } = {}) {
    super(`${source}: ${message}`, opts);
    this.name = "InvalidSchemaError";
    this.source = source;
  }
}

/** A new version breaks the source's compatibility mode; `report` lists each breaking change. */
export class IncompatibleSchemaError extends Error {
  readonly source: string;
  readonly report: CompatibilityReport;
  constructor(source: string, report: CompatibilityReport) {
    super(`${formatReport(source, report)}\nNothing was registered. Change the schema, or the mode: sluice schema mode ${source} <backward|forward|full|none>`);
    this.name = "IncompatibleSchemaError";
    this.source = source;
    this.report = report;
  }
}

export class UnknownSchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnknownSchemaError";
  }
}

const schemaKey = (source: string, version: number) => `schema.${source}.${version}`;
const configKey = (source: string) => `config.${source}`;

function parseKey(key: string): { kind: "schema"; source: Source; version: number } | { kind: "config"; source: Source } | undefined {
  const parts = key.split(".");
  if (parts[0] === "schema" && parts.length === 3 && isSource(parts[1]) && /^[1-9][0-9]*$/.test(parts[2])) return { kind: "schema", source: parts[1], version: Number(parts[2]) };
  if (parts[0] === "config" && parts.length === 2 && isSource(parts[1])) return { kind: "config", source: parts[1] };
  return undefined;
}

const ANNOTATIONS = new Set(["title", "description", "examples", "$id"]);

/** A schema without the keywords that only describe it (a property that happens to be named `title` stays). */
function withoutAnnotations(value: unknown, names = false): unknown {
  if (Array.isArray(value)) return value.map((v) => withoutAnnotations(v));
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(Object.entries(value).filter(([k]) => names || !ANNOTATIONS.has(k)).map(([k, v]) => [k, withoutAnnotations(v, k === "properties" && !names)]));
}

/**
 * The schema registry in NATS KV, with a local copy kept current by a KV watch. `watch()` follows
 * changes and survives a NATS reconnect (a server restart): it resumes after the last revision it
 * applied and re-reads the bucket, so no version registered meanwhile is missed.
 *
 * @example
 * const registry = await SchemaRegistry.open(nc);
 * registry.current("iot"); // 2: the shipped versions
 * await registry.add("iot", v2); // throws IncompatibleSchemaError with a readable diff
 */
export class SchemaRegistry {
  readonly kv: KV;
  private readonly nc: NatsConnection;
  private readonly log: RegistryLogger | undefined;
  private readonly schemas = new Map<Source, Map<number, RegisteredSchema>>();
  private readonly configs = new Map<Source, SourceConfig>();
  private readonly listeners = new Set<(change: RegistryChange) => void>();
  private lastRevision = 0;
  private watching: Promise<void> | undefined;
  private iterator: QueuedIterator<KvWatchEntry> | undefined;
  private closed = false;

  private constructor(nc: NatsConnection, kv: KV, log: RegistryLogger | undefined) {
    this.nc = nc;
    this.kv = kv;
    this.log = log;
  }

  /**
   * Opens (creating if missing) the bucket, registers the shipped versions (subjects/schemas:
   * v1, then v2 with its PII rules) of each source whose registered versions are all shipped ones,
   * and loads everything. A source with a version of its own keeps its versions untouched: the
   * shipped one would have to pass its compatibility mode, which is for the operator to decide.
   */
  static async open(nc: NatsConnection, opts: { log?: RegistryLogger; seed?: boolean } = {}): Promise<SchemaRegistry> {
    const kv = await new Kvm(nc).create(REGISTRY_BUCKET, { history: 5 });
    const registry = new SchemaRegistry(nc, kv, opts.log);
    await registry.refresh();
    if (opts.seed !== false) await registry.registerShipped();
    return registry;
  }

  /** The shipped versions each source is missing, when every version it has is the shipped one of that number. */
  private async registerShipped(): Promise<void> {
    // Text that changes nothing a message is checked against (a reworded description) does not make a version the operator's.
    const same = (a: unknown, b: unknown) => JSON.stringify(withoutAnnotations(a)) === JSON.stringify(withoutAnnotations(b));
    let added = false;
    for (const source of SOURCES) {
      const shipped = SHIPPED_SCHEMAS[source];
      const versions = this.versions(source);
      if (!versions.every((v, i) => v === i + 1 && same(this.get(source, v)!.schema, shipped[i]))) continue;
      for (let v = versions.length + 1; v <= shipped.length; v++) {
        // `create`: a process opening the registry at the same time registers the same document.
        const created = await this.kv.create(schemaKey(source, v), JSON.stringify(shipped[v - 1])).then(() => true, (err: Error) => {
          if (!/wrong last sequence|key exists/i.test(err.message)) throw err;
          return false;
        });
        added = true;
        if (created && versions.length > 0) this.log?.info(`schema registry: registered the shipped ${source} v${v} (it follows the shipped v${v - 1} this registry held)`);
      }
    }
    if (added) await this.refresh();
  }

  /** Re-reads every key of the bucket. */
  async refresh(): Promise<void> {
    const keys: string[] = [];
    for await (const key of await this.kv.keys()) keys.push(key);
    for (const key of keys) {
      const entry = await this.kv.get(key);
      if (entry) this.apply(entry);
    }
  }

  versions(source: Source): number[] {
    return [...(this.schemas.get(source)?.keys() ?? [])].sort((a, b) => a - b);
  }

  /** The latest registered version: what a message without a stated version is read as, and what everything is upcast to. */
  current(source: Source): number {
    const versions = this.versions(source);
    return versions[versions.length - 1] ?? 0;
  }

  get(source: Source, version: number): RegisteredSchema | undefined {
    return this.schemas.get(source)?.get(version);
  }

  config(source: Source): SourceConfig {
    return this.configs.get(source) ?? DEFAULT_CONFIG;
  }

  list(): SourceSummary[] {
    return SOURCES.map((source) => ({ source, versions: this.versions(source), current: this.current(source), ...this.config(source) }));
  }

  /** Checks `schema` as the next version of `source` without registering it. */
  check(source: Source, schema: unknown, opts: { mode?: CompatibilityMode; policy?: CompatibilityPolicy } = {}): CompatibilityReport {
    const valid = this.validateDocument(source, schema);
    const current = this.current(source);
    const config = this.config(source);
    const previous = this.get(source, current)?.schema ?? {};
    return checkCompatibility(previous, valid, {
      mode: current === 0 ? "none" : opts.mode ?? config.mode,
      policy: opts.policy ?? config.policy,
      previousVersion: current,
      version: current + 1,
    });
  }

  /**
   * Registers `schema` as the next version of `source` when it passes the source's compatibility
   * mode (or `opts.mode`, which then becomes the source's mode). A schema equal to a registered
   * version returns that version and registers nothing.
   */
  async add(source: Source, schema: unknown, opts: { mode?: CompatibilityMode; policy?: CompatibilityPolicy } = {}): Promise<{ version: number; created: boolean; report: CompatibilityReport }> {
    for (let attempt = 0; ; attempt++) {
      await this.refresh();
      const existing = this.versions(source).find((v) => JSON.stringify(this.get(source, v)!.schema) === JSON.stringify(schema));
      const report = this.check(source, schema, opts);
      if (existing !== undefined) return { version: existing, created: false, report: { ...report, version: existing } };
      if (!report.compatible) throw new IncompatibleSchemaError(source, report);
      try {
        await this.kv.create(schemaKey(source, report.version), JSON.stringify(schema));
      } catch (err) {
        if (attempt < 3 && /wrong last sequence|key exists/i.test((err as Error).message)) continue;
        throw err;
      }
      if (opts.mode || opts.policy) await this.setConfig(source, { ...this.config(source), ...(opts.mode ? { mode: opts.mode } : {}), ...(opts.policy ? { policy: opts.policy } : {}) });
      await this.refresh();
      return { version: report.version, created: true, report };
    }
  }

  async setConfig(source: Source, config: SourceConfig): Promise<void> {
    await this.kv.put(configKey(source), JSON.stringify(config));
    await this.refresh();
  }

  /** Calls `listener` after each change the watch applies. Returns a function that removes it. */
  onChange(listener: (change: RegistryChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts following the bucket; safe to call twice. */
  watch(): void {
    if (this.watching) return;
    this.watching = this.watchLoop();
    // Ends with the connection; close() need not wait for it.
    void this.followReconnects();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.iterator?.stop();
    await this.watching;
  }

  private async watchLoop(): Promise<void> {
    while (!this.closed) {
      try {
        const iterator = await this.kv.watch({ key: ">", resumeFromRevision: this.lastRevision + 1 });
        this.iterator = iterator;
        if (this.closed) iterator.stop();
        for await (const entry of iterator) this.apply(entry);
      } catch (err) {
        if (!this.closed && !this.nc.isClosed()) this.log?.warn(`schema registry: watch ended (${(err as Error).message}); resuming after revision ${this.lastRevision}`);
      }
      if (this.closed || this.nc.isClosed()) return;
      await sleep(250);
    }
  }

  /** The ephemeral consumer behind a watch may be gone after a server restart: start a new one and re-read. */
  private async followReconnects(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (this.closed) return;
      if (status.type !== "reconnect") continue;
      this.log?.info(`schema registry: reconnected; re-reading ${REGISTRY_BUCKET} and resuming the watch after revision ${this.lastRevision}`);
      this.iterator?.stop();
      await this.refresh().catch((err: Error) => this.log?.warn(`schema registry: re-read after reconnect failed (${err.message}); the watch will catch up`));
    }
  }

  private apply(entry: KvEntry): void {
    if (entry.revision <= this.lastRevision && this.known(entry)) return;
    this.lastRevision = Math.max(this.lastRevision, entry.revision);
    const key = parseKey(entry.key);
    if (!key) return;
    const deleted = entry.operation !== "PUT";
    if (key.kind === "config") {
      if (deleted) this.configs.delete(key.source);
      else this.configs.set(key.source, { ...DEFAULT_CONFIG, ...entry.json<Partial<SourceConfig>>() });
    } else {
      const versions = this.schemas.get(key.source) ?? new Map<number, RegisteredSchema>();
      this.schemas.set(key.source, versions);
      if (deleted) versions.delete(key.version);
      else versions.set(key.version, { source: key.source, version: key.version, schema: entry.json<SchemaObject>(), revision: entry.revision, registeredAt: entry.created });
    }
    for (const listener of this.listeners) listener(key.kind === "schema" ? { kind: "schema", source: key.source, version: key.version } : { kind: "config", source: key.source });
  }

  private known(entry: KvEntry): boolean {
    const key = parseKey(entry.key);
    if (!key) return true;
    if (key.kind === "schema") return this.get(key.source, key.version)?.revision === entry.revision;
    return this.configs.has(key.source);
  }

  /** The checks every version must pass before compatibility is even asked. */
  private validateDocument(source: Source, schema: unknown): SchemaObject {
    if (typeof schema !== "object" || schema === null || Array.isArray(schema)) throw new InvalidSchemaError(source, "a schema must be a JSON object (a JSON Schema draft-07 document)");
    const doc = schema as SchemaObject;
    if (doc.type !== "object") throw new InvalidSchemaError(source, `the schema's "type" must be "object" (one JSON object per message), got ${JSON.stringify(doc.type)}`);
    const required = Array.isArray(doc.required) ? (doc.required as string[]) : [];
    for (const field of [KEY_FIELD[source], "ts"]) {
      if (!required.includes(field)) throw new InvalidSchemaError(source, `"${field}" must stay in "required": ${field === "ts" ? "it is the event time" : "it is the subject's key"}`);
    }
    try {
      createAjv().compile(doc);
    } catch (err) {
      throw new InvalidSchemaError(source, `not a valid JSON Schema: ${(err as Error).message}`, { cause: err });
    }
    try {
      upcastSteps(doc);
    } catch (err) {
      throw new InvalidSchemaError(source, (err as Error).message, { cause: err });
    }
    return doc;
  }
}
