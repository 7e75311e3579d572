import type { EventColumns } from "../../clickhouse/columns.ts";
import type { SchemaRegistry } from "../../subjects/registry/index.ts";
import type { Envelope } from "../../subjects/envelope.ts";
import { isSource, SOURCES } from "../../subjects/sources.ts";
import type { Inbound, Logger } from "../runtime/actor.ts";

const lenient = new TextDecoder();
const REFRESH_EVERY_MS = 1_000;

/**
 * Keeps the typed columns of `sluice.events` in step with the schema registry while sluice runs:
 * every registered version's fields become columns (on start, and on each version the registry's
 * watch reports), and before a batch is inserted a payload field without a column makes it ask
 * the registry again, so a row of a version registered a moment ago still fills its new column.
 */
export class TypedColumnSync {
  private readonly columns: EventColumns;
  private readonly registry: SchemaRegistry;
  private readonly log: Logger;
  private readonly synced = new Set<string>();
  /** Payload fields already looked up; an undeclared extra field asks the registry once, not per row. */
  private readonly looked = new Set<string>();
  private readonly parsed = new WeakMap<Inbound, Envelope>();
  private chain: Promise<void> = Promise.resolve();
  private lastRefresh = 0;

  constructor(columns: EventColumns, registry: SchemaRegistry, log: Logger) {
    this.columns = columns;
    this.registry = registry;
    this.log = log;
  }

  /** Adds columns for every registered version and follows new ones. */
  async start(): Promise<void> {
    await this.columns.load();
    await this.syncAll();
    this.registry.onChange((change) => {
      if (change.kind !== "schema") return;
      this.chain = this.chain.then(() => this.syncAll()).catch((err: Error) => this.log.warn(`typed columns: ${err.message}; retried with the next batch`));
    });
  }

  private async syncAll(): Promise<void> {
    for (const source of SOURCES) {
      for (const version of this.registry.versions(source)) {
        const key = `${source}:${version}`;
        if (this.synced.has(key)) continue;
        await this.columns.ensure(source, this.registry.get(source, version)!.schema);
        this.synced.add(key);
      }
    }
  }

  /** The envelope of an events message, parsed once for both `prepare` and the row mapper. */
  envelope(input: Inbound): Envelope {
    const hit = this.parsed.get(input);
    if (hit) return hit;
    const envelope = JSON.parse(lenient.decode(input.data)) as Envelope;
    this.parsed.set(input, envelope);
    return envelope;
  }

  async prepare(batch: readonly Inbound[]): Promise<void> {
    await this.chain;
    let unknown = false;
    for (const input of batch) {
      let envelope: Envelope;
      try {
        envelope = this.envelope(input);
      } catch {
        continue; // the row mapper dead-letters it
      }
      if (!envelope?.payload || !isSource(envelope.source)) continue;
      for (const field of Object.keys(envelope.payload)) {
        const key = `${envelope.source}__${field}`;
        if (this.columns.has(key) || this.looked.has(key)) continue;
        this.looked.add(key);
        unknown = true;
      }
    }
    if (!unknown || Date.now() - this.lastRefresh < REFRESH_EVERY_MS) return this.syncAll();
    this.lastRefresh = Date.now();
    await this.registry.refresh();
    await this.syncAll();
  }
}
