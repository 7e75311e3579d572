export { createWindowEngine, configFingerprint, WindowInputError, WindowSnapshotError } from "./engine.ts";
export { compileWindowConfig, defaultWindowConfig, WindowConfigError } from "./config.ts";
export { groupShardOf, windowId } from "./window-id.ts";
export type {
  EngineSnapshot,
  GroupShard,
  GroupSpec,
  HoppingSpec,
  LateOutput,
  LateWindowRef,
  MetricSpec,
  Output,
  PartitionStatus,
  RetractOutput,
  SessionSpec,
  SourceStatus,
  SourceWindowConfig,
  TumblingSpec,
  WindowConfig,
  WindowEngine,
  WindowKind,
  WindowOutput,
  WindowResult,
  WindowSpec,
} from "./types.ts";
