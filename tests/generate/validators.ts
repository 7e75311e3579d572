import { Ajv, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import { SCHEMAS_V1 } from "../../subjects/schemas/index.ts";
import { SOURCES, type Source } from "../../subjects/sources.ts";

/**
 * The v1 validators as strictly as ajv compiles: strict mode on (the schemas must be clean
 * under it), no type coercion, every error reported.
 */
export function v1Validators(): Record<Source, ValidateFunction> {
  const ajv = new Ajv({ strict: true, allErrors: true, coerceTypes: false });
  addFormats.default(ajv);
  return Object.fromEntries(SOURCES.map((s) => [s, ajv.compile(SCHEMAS_V1[s])])) as Record<Source, ValidateFunction>;
}
