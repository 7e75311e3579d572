import { createForecaster, MIN_HISTORY, type Forecast } from "../models/forecast/index.ts";
import { quoteString } from "../clickhouse/query.ts";
import { defaultWindowConfig } from "../windowing/config.ts";
import type { QueryRows } from "./deps.ts";
import type { Source } from "../subjects/sources.ts";

/**
 * One series by name: `<source>:<key>:<metric>`, e.g. `iot:sensor-1:temperature`. The value is
 * the 1-minute window mean; `<metric>.count` (e.g. `txn:merchant=m-1:amount.count`) is the
 * window's event count, the volume, which is also what a metric without a field (`posts`) means.
 */
export interface SeriesId {
  source: Source;
  key: string;
  metric: string;
}

/** A forecast and the history it was fitted on; `madeAt` (epoch ms) when it was fitted. */
export interface SeriesForecast {
  forecast: Forecast;
  points: number;
  madeAt: number;
  /** "scheduled": from the refitted hot set; "request": fitted for this request. */
  fitted: "scheduled" | "request";
}

/** Forecasts a series `horizon` steps ahead; null when the series has too little history. */
export type ForecastProvider = (series: SeriesId, horizon: number) => Promise<SeriesForecast | null>;

/** Points of history a forecast is fitted on: 1-minute windows, about 2.8 days. */
export const FORECAST_HISTORY = 4032;
const CACHE_MS = 60_000;

export const seriesName = (s: SeriesId): string => `${s.source}:${s.key}:${s.metric}`;

/** The window metric a series reads and which column of it: the mean, or the count (volume). */
export function seriesColumn(s: SeriesId): { metric: string; column: "mean" | "count" } {
  if (s.metric.endsWith(".count")) return { metric: s.metric.slice(0, -".count".length), column: "count" };
  const spec = defaultWindowConfig.sources[s.source]?.metrics.find((m) => m.name === s.metric);
  return { metric: s.metric, column: spec && spec.field === undefined ? "count" : "mean" };
}

/** The last `limit` 1-minute tumbling windows of a series, oldest first, as [epoch ms, value]. */
export async function readHistory(rows: QueryRows, s: SeriesId, limit = FORECAST_HISTORY): Promise<Array<[number, number]>> {
  const { metric, column } = seriesColumn(s);
  const history = await rows(`SELECT toUnixTimestamp(window_start) AS t, ${column} AS v
FROM sluice.window_aggregates FINAL
WHERE source = ${quoteString(s.source)} AND key = ${quoteString(s.key)} AND metric = ${quoteString(metric)}
  AND kind = 'tumbling' AND count > 0
ORDER BY window_start DESC
LIMIT ${limit}`);
  return history.reverse().map((r) => [Number(r.t) * 1000, Number(r.v)]);
}

/** Chooses, fits and forecasts a model (models/forecast) for one history; null below {@link MIN_HISTORY} points (too little history). */
export function fitHistory(history: ReadonlyArray<readonly [number, number]>, horizon: number): { forecast: Forecast; points: number } | null {
  if (history.length < MIN_HISTORY) return null;
  const forecaster = createForecaster({ horizon, maxHistory: FORECAST_HISTORY });
  for (const [t, v] of history) forecaster.update(t, v);
  const forecast = forecaster.forecast(horizon);
  return forecast ? { forecast, points: history.length } : null;
}

/**
 * Forecasts fitted on request from the 1-minute tumbling windows in `sluice.window_aggregates`,
 * refitted when a cached fit is older than a minute. The model is chosen per series by models/forecast.
 */
export function windowForecasts(rows: QueryRows, now: () => number = Date.now): ForecastProvider {
  const cache = new Map<string, { at: number; horizon: number; result: SeriesForecast | null }>();
  return async (series, horizon) => {
    const id = seriesName(series);
    const hit = cache.get(id);
    if (hit && now() - hit.at < CACHE_MS && hit.horizon === horizon) return hit.result;
    const fit = fitHistory(await readHistory(rows, series), horizon);
    const result: SeriesForecast | null = fit ? { ...fit, madeAt: now(), fitted: "request" } : null;
    if (cache.size > 1_000) cache.delete(cache.keys().next().value as string);
    cache.set(id, { at: now(), horizon, result });
    return result;
  };
}
