export { createWindowEngine, configFingerprint, WindowInputError, WindowSnapshotError } from "./engine.ts";
export { compileWindowConfig, defaultWindowConfig, WindowConfigError } from "./config.ts";
export { windowId } from "./window-id.ts";
export type {
  EngineSnapshot,
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
