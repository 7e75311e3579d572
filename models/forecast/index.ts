export { createForecaster, detectPeriod, fitBest, predict, ForecastSnapshotError } from "./forecaster.ts";
export type { FittedModel, Forecast, Forecaster, ForecasterOptions, ForecasterSnapshot } from "./forecaster.ts";
export { backtest, BacktestError } from "./backtest.ts";
export type { BacktestResult } from "./backtest.ts";
export type { ModelKind, ModelParams } from "./models.ts";
