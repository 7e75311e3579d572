import { SOURCES, type Source } from "../subjects/sources.ts";
import type { GroupSpec, MetricSpec, SourceWindowConfig, WindowConfig, WindowSpec } from "./types.ts";

const MINUTE = 60_000;

/**
 * Per source: 1-minute tumbling windows for every metric and group (the entity key bare, plus one
 * coarser group), a hopping window over the coarse group for trends, and sessions per entity.
 * Pass `partitions` from the runtime config when the actor knows how many it reads.
 *
 * @example
 * const engine = createWindowEngine({ ...defaultWindowConfig, partitions: config.partitions });
 */
export const defaultWindowConfig: WindowConfig = deepFreeze({
  sketchRelativeAccuracy: 0.01,
  distinctExactLimit: 1000,
  hllPrecision: 12,
  sources: {
    iot: {
      outOfOrdernessMs: 5_000,
      allowedLatenessMs: MINUTE,
      idleTimeoutMs: 30_000,
      groups: [{ name: "sensor" }, { name: "site", field: "site", distinct: "sensor_id" }],
      metrics: [
        { name: "temperature", field: "temperature" },
        { name: "humidity", field: "humidity" },
        { name: "pressure", field: "pressure" },
        { name: "battery", field: "battery" },
      ],
      windows: [
        { kind: "tumbling", sizeMs: MINUTE },
        { kind: "hopping", sizeMs: 5 * MINUTE, slideMs: MINUTE, groups: ["site"] },
        // A sensor's reporting stretch: a break longer than the gap shows up as a new session.
        { kind: "session", gapMs: 2 * MINUTE, maxLengthMs: 60 * MINUTE, groups: ["sensor"] },
      ],
    },
    txn: {
      outOfOrdernessMs: 10_000,
      allowedLatenessMs: 2 * MINUTE,
      idleTimeoutMs: 30_000,
      groups: [
        { name: "customer", distinct: "merchant_id" },
        { name: "merchant", field: "merchant_id", distinct: "customer_id" },
      ],
      metrics: [{ name: "amount", field: "amount" }],
      windows: [
        { kind: "tumbling", sizeMs: MINUTE },
        { kind: "hopping", sizeMs: 15 * MINUTE, slideMs: 5 * MINUTE, groups: ["merchant"] },
        { kind: "session", gapMs: 10 * MINUTE, maxLengthMs: 120 * MINUTE, groups: ["customer"] },
      ],
    },
    social: {
      outOfOrdernessMs: 5_000,
      allowedLatenessMs: MINUTE,
      idleTimeoutMs: 30_000,
      groups: [{ name: "user" }, { name: "topic", field: "topic", distinct: "user_id" }],
      metrics: [{ name: "posts" }, { name: "likes", field: "likes" }, { name: "reposts", field: "reposts" }],
      windows: [
        { kind: "tumbling", sizeMs: MINUTE },
        { kind: "hopping", sizeMs: 10 * MINUTE, slideMs: MINUTE, groups: ["topic"] },
        { kind: "session", gapMs: 15 * MINUTE, maxLengthMs: 240 * MINUTE, groups: ["user"] },
      ],
    },
  },
});

export class WindowConfigError extends Error {
  readonly path: string;
  readonly expected: string;
  readonly got: unknown;

  constructor(path: string, expected: string, got: unknown) {
    super(`window config ${path}: expected ${expected}, got ${JSON.stringify(got)}`);
    this.name = "WindowConfigError";
    this.path = path;
    this.expected = expected;
    this.got = got;
  }
}

/** A window spec with its groups and metrics resolved to indexes into the source's lists. */
export interface CompiledSpec {
  readonly spec: WindowSpec;
  readonly groups: readonly number[];
  readonly metrics: readonly number[];
}

export interface CompiledSource {
  readonly source: Source;
  readonly config: SourceWindowConfig;
  readonly groups: readonly GroupSpec[];
  readonly metrics: readonly MetricSpec[];
  readonly specs: readonly CompiledSpec[];
}

/** Checks a config and resolves it per source; throws {@link WindowConfigError} at the first fault. */
export function compileWindowConfig(config: WindowConfig): CompiledSource[] {
  number("sketchRelativeAccuracy", config.sketchRelativeAccuracy, "a number between 0 and 1 (exclusive)", (n) => n > 0 && n < 1);
  number("distinctExactLimit", config.distinctExactLimit, "an integer >= 0", (n) => Number.isInteger(n) && n >= 0);
  number("hllPrecision", config.hllPrecision, "an integer from 4 to 16", (n) => Number.isInteger(n) && n >= 4 && n <= 16);
  if (config.partitions !== undefined) {
    number("partitions", config.partitions, "an integer >= 0", (n) => Number.isInteger(n) && n >= 0);
  }
  if (config.groupShard !== undefined) {
    const count = config.groupShard?.count;
    number("groupShard.count", count, "an integer >= 1", (n) => Number.isInteger(n) && n >= 1);
    number("groupShard.index", config.groupShard.index, `an integer from 0 to ${count - 1}`, (n) => Number.isInteger(n) && n >= 0 && n < count);
  }
  const unknown = Object.keys(config.sources).filter((s) => !(SOURCES as readonly string[]).includes(s));
  if (unknown.length > 0) throw new WindowConfigError("sources", `only ${SOURCES.join(", ")}`, unknown);
  return SOURCES.flatMap((source) => {
    const sc = config.sources[source];
    return sc ? [compileSource(source, sc)] : [];
  });
}

function compileSource(source: Source, sc: SourceWindowConfig): CompiledSource {
  const at = `sources.${source}`;
  number(`${at}.outOfOrdernessMs`, sc.outOfOrdernessMs, "a number >= 0", (n) => n >= 0 && Number.isFinite(n));
  number(`${at}.allowedLatenessMs`, sc.allowedLatenessMs, "a number >= 0", (n) => n >= 0 && Number.isFinite(n));
  number(`${at}.idleTimeoutMs`, sc.idleTimeoutMs, "a number > 0", (n) => n > 0);
  if (!Array.isArray(sc.groups) || sc.groups.length === 0) throw new WindowConfigError(`${at}.groups`, "a non-empty list", sc.groups);
  if (!Array.isArray(sc.metrics) || sc.metrics.length === 0) throw new WindowConfigError(`${at}.metrics`, "a non-empty list", sc.metrics);
  if (!Array.isArray(sc.windows) || sc.windows.length === 0) throw new WindowConfigError(`${at}.windows`, "a non-empty list", sc.windows);
  const groupNames = names(`${at}.groups`, sc.groups);
  const metricNames = names(`${at}.metrics`, sc.metrics);
  sc.groups.forEach((g, i) => {
    if (g.name.includes("=")) throw new WindowConfigError(`${at}.groups[${i}].name`, "a name without '='", g.name);
  });
  const bare = sc.groups.filter((g) => g.field === undefined);
  if (bare.length > 1) throw new WindowConfigError(`${at}.groups`, "at most one group without a field (the envelope key)", bare.map((g) => g.name));

  const seen = new Set<string>();
  const specs = sc.windows.map((spec, i): CompiledSpec => {
    const path = `${at}.windows[${i}]`;
    const positive = (n: number) => Number.isInteger(n) && n > 0;
    switch (spec.kind) {
      case "tumbling":
        number(`${path}.sizeMs`, spec.sizeMs, "an integer > 0", positive);
        break;
      case "hopping":
        number(`${path}.sizeMs`, spec.sizeMs, "an integer > 0", positive);
        number(`${path}.slideMs`, spec.slideMs, `an integer from 1 to sizeMs (${spec.sizeMs})`, (n) => positive(n) && n <= spec.sizeMs);
        break;
      case "session":
        number(`${path}.gapMs`, spec.gapMs, "an integer > 0", positive);
        number(`${path}.maxLengthMs`, spec.maxLengthMs, `an integer >= gapMs (${spec.gapMs})`, (n) => Number.isInteger(n) && n >= spec.gapMs);
        break;
      default:
        throw new WindowConfigError(`${path}.kind`, "tumbling, hopping or session", (spec as { kind: unknown }).kind);
    }
    const groups = resolve(`${path}.groups`, spec.groups, groupNames);
    const metrics = resolve(`${path}.metrics`, spec.metrics, metricNames);
    // Row ids hash (kind, key, metric, bounds): two specs that can produce the same bounds for the
    // same group would write over each other's rows.
    const size = spec.kind === "session" ? "" : spec.sizeMs;
    for (const g of groups) {
      const identity = `${spec.kind}/${size}/${g}`;
      if (seen.has(identity)) {
        const what = spec.kind === "session" ? "one session window" : `one ${spec.kind} window of size ${size}`;
        throw new WindowConfigError(`${path}`, `at most ${what} per group`, sc.groups[g].name);
      }
      seen.add(identity);
    }
    return { spec, groups, metrics };
  });
  return { source, config: sc, groups: sc.groups, metrics: sc.metrics, specs };
}

function names(path: string, items: readonly { name: string }[]): string[] {
  const list = items.map((item, i) => {
    if (typeof item?.name !== "string" || item.name === "") throw new WindowConfigError(`${path}[${i}].name`, "a non-empty string", item?.name);
    return item.name;
  });
  const dup = list.find((n, i) => list.indexOf(n) !== i);
  if (dup !== undefined) throw new WindowConfigError(path, "unique names", dup);
  return list;
}

function resolve(path: string, wanted: readonly string[] | undefined, available: string[]): number[] {
  if (wanted === undefined) return available.map((_, i) => i);
  if (wanted.length === 0) throw new WindowConfigError(path, "a non-empty list (or none for all)", wanted);
  return wanted.map((name) => {
    const i = available.indexOf(name);
    if (i < 0) throw new WindowConfigError(path, `one of ${available.join(", ")}`, name);
    return i;
  });
}

function number(path: string, value: unknown, expected: string, ok: (n: number) => boolean): void {
  if (typeof value !== "number" || Number.isNaN(value) || !ok(value)) throw new WindowConfigError(path, expected, value);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
