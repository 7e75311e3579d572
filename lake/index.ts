/**
 * The raw data lake: stream messages as ZSTD Parquet files under `source=/date=/hour=`, in a
 * local directory or on S3, written and read through chDB.
 */
export { parseLakeUrl, LakeUrlError, type LakeLocation, type S3Settings } from "./location.ts";
export { DATASETS, datasetGlob, fileKey, parseFileKey, partitionDir, hourStart, isPartitionSafe, type Dataset, type LakeFile } from "./layout.ts";
export { eventIndexOf, LAKE_STRUCTURE, lakeRowOf, rowBytes, toTabSeparated, type LakeRow } from "./rows.ts";
export { addRow, snapshotOpenFile, restoreOpenFile, type FileLimits, type OpenFile, type OpenFileSnapshot } from "./cut.ts";
export { LakeStore, LakeStoreError } from "./store.ts";
export { openMemoryEngine, borrowedEngine, type LakeEngine } from "./engine.ts";
export { LAKE_VIEWS, lakeViewStatements, createLakeViews } from "./views.ts";
export { replayRange, republishOf, filesInRange, positionFile, type ReplayRange, type ReplayOptions, type ReplayProgress, type ReplayResult, type Republish } from "./replay.ts";
export { compactLake, expireLake, type CompactResult } from "./compact.ts";
