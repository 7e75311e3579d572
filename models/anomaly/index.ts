export { createUnivariateDetector, SnapshotError } from "./univariate.ts";
export type { AnomalyExplanation, AnomalyResult, UnivariateDetector, UnivariateOptions, UnivariateSnapshot } from "./univariate.ts";
export { createMultivariateDetector, FeatureVectorError } from "./multivariate.ts";
export type { MultivariateDetector, MultivariateExplanation, MultivariateOptions, MultivariateResult, MultivariateSnapshot } from "./multivariate.ts";
export { evalNab, readNabCsv, NabDataError } from "./nab.ts";
export type { NabRun } from "./nab.ts";
export { crossValidate, formatNabCv, nabCrossValidation, publicSplits, readSplit, scoreNab, NabScorerError } from "./nab-cv.ts";
export type { NabCrossValidation, NabCvReport, NabScore, ScorerSetup } from "./nab-cv.ts";
