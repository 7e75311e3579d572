import type { OpenClickHouse } from "../clickhouse/index.ts";
import type { EventColumns } from "../clickhouse/columns.ts";
import type { SchemaRegistry } from "../subjects/registry/index.ts";
import { serviceKey, type ServiceKey, type ServiceProvider } from "./runtime/actor.ts";
import { ServiceUnavailableError } from "./runtime/start.ts";
import type { TypedColumnSync } from "./sink/typed-columns.ts";

/** Typed payload columns of sluice.events, kept in step with the schema registry. */
export interface TypedColumns {
  readonly sync: TypedColumnSync;
  readonly columns: EventColumns;
}

/**
 * The process-wide services sluice's actors declare in `needs`. A process opens each one once,
 * before the actors that need it start (actors/pipeline.ts), and shares it between them.
 */
export const SERVICES = {
  /** Registered schema versions, watched so a new version takes effect within a second. */
  schemaRegistry: serviceKey<SchemaRegistry>("schema-registry"),
  /** The ClickHouse the sinks write (a server, or the process's embedded chDB). */
  clickhouse: serviceKey<OpenClickHouse>("clickhouse"),
  /** Typed payload columns of sluice.events (needs the two above). */
  typedColumns: serviceKey<TypedColumns>("typed-columns"),
} as const;

/** Names of the services any of `actors` declared. */
export function neededBy(actors: readonly { readonly needs?: readonly ServiceKey<unknown>[] }[]): Set<string> {
  return new Set(actors.flatMap((a) => (a.needs ?? []).map((k) => k.name)));
}

/** A provider over services this process has open. */
export class OpenServices implements ServiceProvider {
  private readonly open = new Map<string, unknown>();

  /** Adds `value` under `key` (nothing when undefined: the service is not open here). */
  provide<T>(key: ServiceKey<T>, value: T | undefined): this {
    if (value !== undefined) this.open.set(key.name, value);
    return this;
  }

  get<T>(key: ServiceKey<T>): Promise<T> {
    if (!this.open.has(key.name)) return Promise.reject(new ServiceUnavailableError(key.name, "is not open in this process"));
    return Promise.resolve(this.open.get(key.name) as T);
  }
}
