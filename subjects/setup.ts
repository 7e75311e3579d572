import type { JetStreamManager, StreamConfig } from "@nats-io/jetstream";
import { STREAMS, type StreamDefinition } from "./catalog.ts";
import type { ConsumerDefinition } from "./consumers.ts";

/** A stream or consumer exists on the server with settings that differ from the catalog. */
export class ConfigConflictError extends Error {
  readonly resource: string;
  readonly field: string;
  readonly expected: unknown;
  readonly actual: unknown;
  constructor(resource: string, field: string, expected: unknown, actual: unknown) {
    super(
      `${resource} exists with ${field}=${JSON.stringify(actual)} but sluice expects ${JSON.stringify(expected)}; ` +
        `change it on the server (e.g. \`nats stream edit\`) or delete it to let sluice recreate it — sluice never changes it silently`,
    );
    this.name = "ConfigConflictError";
    this.resource = resource;
    this.field = field;
    this.expected = expected;
    this.actual = actual;
  }
}

function sameValue(expected: unknown, actual: unknown): boolean {
  return JSON.stringify(expected) === JSON.stringify(actual);
}

function firstConflict(resource: string, wanted: Record<string, unknown>, actual: Record<string, unknown>): ConfigConflictError | undefined {
  for (const [field, expected] of Object.entries(wanted)) {
    if (field === "stream") continue;
    if (!sameValue(expected, actual[field])) return new ConfigConflictError(resource, field, expected, actual[field]);
  }
  return undefined;
}

/** Stream limits that are the operator's to tune; a difference here is reported, not an error. */
export interface StreamOverrides {
  RAW?: Partial<Pick<StreamConfig, "max_age" | "max_bytes" | "max_msgs">>;
}

/**
 * Creates each stream of the catalog that is missing and checks the ones that exist.
 * Idempotent: running it again on a matching server changes nothing.
 */
export async function ensureStreams(jsm: JetStreamManager, overrides: StreamOverrides = {}): Promise<void> {
  for (const def of Object.values(STREAMS) as StreamDefinition[]) {
    const wanted: Record<string, unknown> = { ...def, ...(def.name === "RAW" ? overrides.RAW : {}) };
    const existing = await jsm.streams.info(def.name).catch((err: Error) => {
      if (/stream not found/i.test(err.message)) return undefined;
      throw err;
    });
    if (!existing) {
      await jsm.streams.add(wanted as Partial<StreamConfig> & { name: string });
      continue;
    }
    const conflict = firstConflict(`stream ${def.name}`, wanted, existing.config as unknown as Record<string, unknown>);
    if (conflict) throw conflict;
  }
}

/** Creates the durable consumer if missing; an existing one must match the definition. */
export async function ensureConsumer(jsm: JetStreamManager, def: ConsumerDefinition): Promise<void> {
  const { stream, ...config } = def;
  const existing = await jsm.consumers.info(stream, def.durable_name).catch((err: Error) => {
    if (/consumer not found/i.test(err.message)) return undefined;
    throw err;
  });
  if (!existing) {
    await jsm.consumers.add(stream, config);
    return;
  }
  const conflict = firstConflict(`consumer ${stream}/${def.durable_name}`, config, existing.config as unknown as Record<string, unknown>);
  if (conflict) throw conflict;
}
