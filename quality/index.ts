/** Data quality: expectations per source, the gate the validate actor runs them through, the report over their counts (their sink is actors/sink/dq.ts). */
export { parseSuite, durationMs, ExpectationConfigError, BATCH_KINDS, type Expectation, type ExpectationKind, type Severity, type Suite, type Duration } from "./expectations.ts";
export { createQualityGate, type QualityGate, type GateSnapshot, type Admission } from "./gate.ts";
export { loadSuites } from "./suites.ts";
export { dqReportQuery, type DqReportOptions } from "./report.ts";
