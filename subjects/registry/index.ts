/** The schema registry: versions and compatibility settings per source in NATS KV, and the compatibility checker. */
export {
  SchemaRegistry,
  REGISTRY_BUCKET,
  DEFAULT_CONFIG,
  IncompatibleSchemaError,
  InvalidSchemaError,
  UnknownSchemaError,
  type RegisteredSchema,
  type RegistryChange,
  type RegistryLogger,
  type SourceConfig,
  type SourceSummary,
} from "./registry.ts";
export {
  checkCompatibility,
  diffSchemas,
  formatReport,
  fieldOf,
  isCompatibleChange,
  isCompatibilityMode,
  isCompatibilityPolicy,
  COMPATIBILITY_MODES,
  COMPATIBILITY_POLICIES,
  type CompatibilityMode,
  type CompatibilityPolicy,
  type CompatibilityReport,
  type Difference,
  type Incompatibility,
  type JsonSchema,
} from "./compat.ts";
export { createAjv } from "./ajv.ts";
