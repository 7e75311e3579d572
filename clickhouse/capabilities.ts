import type { ClickHouseClient } from "@clickhouse/client";

/**
 * What the connected ClickHouse can do, decided by its version. The schema and the row
 * mappers read this to pick types and value formats both engines accept.
 *
 * @example
 * capabilitiesFor("18.16.1").dateTime64 // false
 * capabilitiesFor("26.7.2.1").dateTime64 // true
 */
export interface Capabilities {
  version: string;
  lowCardinality: boolean;
  codecs: boolean;
  ttl: boolean;
  dateTime64: boolean;
  queryParams: boolean;
}

/** Where the storage layer writes its one-line notices; `console` fits. */
export interface ClickHouseLogger {
  info(message: string): void;
  warn(message: string): void;
}

type Feature = Exclude<keyof Capabilities, "version">;

// The first release with each feature, from the ClickHouse changelog: codecs 19.1.6,
// LowCardinality out of experimental 19.3, TTL 19.6.2, query parameters 19.11.3, DateTime64 20.1.2.
const SINCE: Record<Feature, readonly number[]> = {
  codecs: [19, 1, 6],
  lowCardinality: [19, 3],
  ttl: [19, 6, 2],
  queryParams: [19, 11, 3],
  dateTime64: [20, 1, 2],
};

const FALLBACK: Record<Feature, string> = {
  dateTime64: "no DateTime64, using DateTime (second precision) for event_time, ingest_time, received_at, window_start, window_end and emitted_at",
  lowCardinality: "no LowCardinality (experimental before 19.3), using String for source, actor, error_code, kind and metric",
  codecs: "no column CODECs, payload uses the server's default compression instead of ZSTD",
  ttl: "no TTL, retention days are not enforced; drop old daily partitions with ALTER TABLE ... DROP PARTITION",
  queryParams: "no query parameters ({name:Type}); values must be inlined as quoted literals",
};

export class ClickHouseVersionError extends Error {
  override name = "ClickHouseVersionError";
  readonly version: string;
  constructor(version: string) {
    super(`cannot read a ClickHouse version from ${JSON.stringify(version)}: expected "major.minor[.patch...]" as SELECT version() returns`);
    this.version = version;
  }
}

function parseVersion(version: string): number[] {
  const match = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(version.trim());
  if (!match) throw new ClickHouseVersionError(version);
  return match.slice(1).map((part) => Number(part ?? 0));
}

function atLeast(have: readonly number[], want: readonly number[]): boolean {
  for (let i = 0; i < want.length; i++) {
    const h = have[i] ?? 0;
    if (h !== want[i]) return h > want[i];
  }
  return true;
}

/** Capabilities of a ClickHouse version string such as `18.16.1` or `26.7.2.1`. */
export function capabilitiesFor(version: string): Capabilities {
  const have = parseVersion(version);
  const supports = (feature: Feature) => atLeast(have, SINCE[feature]);
  return {
    version: version.trim(),
    lowCardinality: supports("lowCardinality"),
    codecs: supports("codecs"),
    ttl: supports("ttl"),
    dateTime64: supports("dateTime64"),
    queryParams: supports("queryParams"),
  };
}

/** One line per missing feature, saying what is used instead. Empty on a modern server. */
export function fallbackNotices(caps: Capabilities): string[] {
  return (Object.keys(FALLBACK) as Feature[])
    .filter((feature) => !caps[feature])
    .map((feature) => `clickhouse ${caps.version}: ${FALLBACK[feature]}`);
}

/** Asks the server for its version and logs one line for each feature it lacks. */
export async function probeCapabilities(client: ClickHouseClient, logger?: ClickHouseLogger): Promise<Capabilities> {
  const result = await client.query({ query: "SELECT version() AS version", format: "JSONEachRow" });
  const rows = await result.json<{ version: string }>();
  const caps = capabilitiesFor(rows[0]?.version ?? "");
  for (const line of fallbackNotices(caps)) logger?.warn(line);
  return caps;
}
