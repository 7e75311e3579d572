import { createForecaster, type Forecast } from "../models/forecast/index.ts";
import { quoteString } from "../clickhouse/query.ts";
import type { QueryRows } from "./deps.ts";
import type { Source } from "../subjects/sources.ts";

/** One series by name: `<source>:<key>:<metric>`, e.g. `iot:sensor-1:temperature`. */
export interface SeriesId {
  source: Source;
  key: string;
  metric: string;
}

/** Forecasts a series `horizon` steps ahead; null when the series has too little history. */
export type ForecastProvider = (series: SeriesId, horizon: number) => Promise<{ forecast: Forecast; points: number } | null>;

/** Points of history a forecast is fitted on: 1-minute windows, about 2.8 days. */
const HISTORY = 4032;
const CACHE_MS = 60_000;

/**
 * Forecasts from the 1-minute tumbling window means in `sluice.window_aggregates`, refitted when
 * a cached fit is older than a minute. The model is chosen per series by models/forecast.
 */
export function windowForecasts(rows: QueryRows, now: () => number = Date.now): ForecastProvider {
  const cache = new Map<string, { at: number; horizon: number; result: { forecast: Forecast; points: number } | null }>();
  return async (series, horizon) => {
    const id = `${series.source}:${series.key}:${series.metric}`;
    const hit = cache.get(id);
    if (hit && now() - hit.at < CACHE_MS && hit.horizon === horizon) return hit.result;
    const history = await rows(`SELECT toUnixTimestamp(window_start) AS t, mean
FROM sluice.window_aggregates FINAL
WHERE source = ${quoteString(series.source)} AND key = ${quoteString(series.key)} AND metric = ${quoteString(series.metric)}
  AND kind = 'tumbling' AND count > 0
ORDER BY window_start DESC
LIMIT ${HISTORY}`);
    const forecaster = createForecaster({ horizon, maxHistory: HISTORY });
    for (const r of history.reverse()) forecaster.update(Number(r.t) * 1000, Number(r.mean));
    const forecast = history.length >= 2 ? forecaster.forecast(horizon) : null;
    const result = forecast ? { forecast, points: history.length } : null;
    if (cache.size > 1_000) cache.delete(cache.keys().next().value as string);
    cache.set(id, { at: now(), horizon, result });
    return result;
  };
}
