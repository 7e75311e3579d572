import type { ClickHouseClient } from "@clickhouse/client";
import type { Logger } from "../otel/log.ts";
import type { Capabilities } from "../clickhouse/capabilities.ts";
import { insertRows } from "../clickhouse/insert.ts";
import { forecastRow, type ForecastsInsertRow } from "../clickhouse/rows-detect.ts";
import { isSource } from "../subjects/sources.ts";
import type { QueryRows } from "./deps.ts";
import { fitHistory, readHistory, seriesName, type ForecastProvider, type SeriesForecast, type SeriesId } from "./forecast.ts";

/**
 * @example
 * const service = createForecastService({ rows, client: () => ch.client, caps: ch.caps, refitMs: config.forecastRefitMs, log });
 * service.start();
 * createApp({ ...deps, forecast: service.provider(windowForecasts(rows)) });
 */
export interface ForecastServiceOptions {
  /** SELECTs on the ClickHouse this process owns. */
  rows: QueryRows;
  /** Where `sluice.forecasts` rows go. */
  client: () => ClickHouseClient;
  caps: Capabilities;
  /** Time between the starts of two refits. */
  refitMs: number;
  log: Logger;
  /** Most series kept hot: the most recently active. Default 1000. */
  maxSeries?: number;
  /** Steps (1-minute windows) forecast and stored per series. Default 60. */
  horizon?: number;
  /** A series is active when it has a window this recent. Default 24 h. */
  activeWithinMs?: number;
  now?: () => number;
}

/** What one refit did. */
export interface RefitReport {
  series: number;
  fitted: number;
  rows: number;
  elapsedMs: number;
}

export interface ForecastService {
  /** Refits every active series now, stores its forecast and keeps it hot. */
  refit(): Promise<RefitReport>;
  /** Refits now and then every `refitMs` (runs never overlap). */
  start(): void;
  /** Stops the schedule and waits for a running refit. */
  stop(): Promise<void>;
  /** The hot forecast of a series, if it is in the set. */
  get(series: SeriesId): SeriesForecast | undefined;
  readonly size: number;
  /** Answers from the hot set, cut to the horizon asked; `fallback` for series not in it or longer horizons. */
  provider(fallback: ForecastProvider): ForecastProvider;
}

/** Rows per insert into `sluice.forecasts`. */
const INSERT_BATCH = 5_000;

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

function slice(f: SeriesForecast, horizon: number): SeriesForecast {
  const cut = (xs: number[]) => xs.slice(0, horizon);
  const { forecast } = f;
  return { ...f, forecast: { ...forecast, timestamps: cut(forecast.timestamps), mean: cut(forecast.mean), lower: cut(forecast.lower), upper: cut(forecast.upper) } };
}

/**
 * Which series are forecast: per sensor every metric's mean; per merchant the amount mean and
 * the payment volume; per topic the post volume. The keys of groups carry `<group>=`.
 */
const ACTIVE_FILTER = `((source = 'iot' AND key NOT LIKE '%=%')
    OR (source = 'txn' AND key LIKE 'merchant=%' AND metric = 'amount')
    OR (source = 'social' AND key LIKE 'topic=%' AND metric = 'posts'))`;

/**
 * The scheduled forecaster of the process that owns ClickHouse: every `refitMs` it lists the
 * most recently active series from the 1-minute tumbling windows, fits each (models/forecast),
 * writes the forecasts with their intervals to `sluice.forecasts` and keeps them in memory for
 * `GET /v1/forecast`. Series are fitted one at a time, yielding to the event loop in between,
 * so the actors and the API keep running during a refit.
 */
export function createForecastService(opts: ForecastServiceOptions): ForecastService {
  const now = opts.now ?? Date.now;
  const maxSeries = opts.maxSeries ?? 1_000;
  const horizon = opts.horizon ?? 60;
  const activeWithinMs = opts.activeWithinMs ?? 86_400_000;
  const hot = new Map<string, SeriesForecast>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = false;

  async function active(): Promise<SeriesId[]> {
    const since = Math.floor((now() - activeWithinMs) / 1000);
    const listed = await opts.rows(`SELECT source, key, metric, max(window_start) AS last_start
FROM sluice.window_aggregates FINAL
WHERE kind = 'tumbling' AND count > 0 AND window_start >= toDateTime(${since})
  AND ${ACTIVE_FILTER}
GROUP BY source, key, metric
ORDER BY last_start DESC, source, key, metric
LIMIT ${maxSeries}`);
    const out: SeriesId[] = [];
    for (const r of listed) {
      const source = String(r.source);
      if (!isSource(source)) continue;
      const s = { source, key: String(r.key), metric: String(r.metric) };
      out.push(s);
      if (source === "txn") out.push({ ...s, metric: `${s.metric}.count` });
    }
    return out.slice(0, maxSeries);
  }

  async function flush(rows: ForecastsInsertRow[]): Promise<number> {
    const batch = rows.splice(0);
    try {
      await insertRows(opts.client(), "forecasts", batch);
      return batch.length;
    } catch (err) {
      opts.log.warn(`forecasts: ${batch.length} rows not stored: ${(err as Error).message}`);
      return 0;
    }
  }

  async function refit(): Promise<RefitReport> {
    const started = now();
    const series = await active();
    const pending: ForecastsInsertRow[] = [];
    const keep = new Set<string>();
    let fitted = 0;
    let stored = 0;
    for (const s of series) {
      if (stopped) break;
      const id = seriesName(s);
      keep.add(id);
      try {
        const fit = fitHistory(await readHistory(opts.rows, s), horizon);
        if (!fit) continue;
        const madeAt = now();
        hot.set(id, { ...fit, madeAt, fitted: "scheduled" });
        fitted++;
        const f = fit.forecast;
        const model = JSON.stringify(f.model);
        f.mean.forEach((mean, k) => {
          pending.push(forecastRow({ series: id, source: s.source, key: s.key, metric: s.metric, made_at: madeAt, target_time: f.timestamps[k], step: k + 1, mean, lower: f.lower[k], upper: f.upper[k], level: f.level, model }, "", opts.caps));
        });
        if (pending.length >= INSERT_BATCH) stored += await flush(pending);
      } catch (err) {
        opts.log.warn(`forecasts: ${id} not refitted: ${(err as Error).message}`);
      }
      await yieldToLoop();
    }
    stored += await flush(pending);
    // Series that fell out of the active set leave the hot set; they are fitted on request.
    if (!stopped) for (const id of [...hot.keys()]) if (!keep.has(id)) hot.delete(id);
    const report = { series: series.length, fitted, rows: stored, elapsedMs: now() - started };
    opts.log.debug(`forecasts: refitted ${report.fitted} of ${report.series} series, ${report.rows} rows in ${report.elapsedMs} ms`);
    return report;
  }

  function schedule(delay: number): void {
    if (stopped) return;
    timer = setTimeout(() => {
      const at = now();
      running = refit()
        .catch((err) => opts.log.warn(`forecasts: refit failed: ${(err as Error).message}`))
        .finally(() => {
          running = undefined;
          schedule(Math.max(0, opts.refitMs - (now() - at)));
        });
    }, delay);
    timer.unref?.();
  }

  return {
    refit,
    start() {
      stopped = false;
      if (!timer && !running) schedule(0);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      timer = undefined;
      await running;
    },
    get: (s) => hot.get(seriesName(s)),
    get size() {
      return hot.size;
    },
    provider(fallback) {
      return async (s, h) => {
        const hit = hot.get(seriesName(s));
        if (hit && h <= hit.forecast.mean.length) return slice(hit, h);
        return fallback(s, h);
      };
    },
  };
}
