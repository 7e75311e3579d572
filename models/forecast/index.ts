export { createForecaster, detectPeriod, fitBest, predict, ForecastSnapshotError, MIN_HISTORY } from "./forecaster.ts";
export type { FittedModel, WeightedMember } from "./ensemble.ts";
export type { Forecast, ForecastModel, Forecaster, ForecasterOptions, ForecasterSnapshot } from "./forecaster.ts";
export { backtest, BacktestError } from "./backtest.ts";
export type { BacktestResult } from "./backtest.ts";
export type { MemberKind, MemberSpec } from "./members.ts";
