import { CONSUMERS } from "../../subjects/consumers.ts";
import { createQualityGate } from "../../quality/gate.ts";
import { loadSuites } from "../../quality/suites.ts";
import { defineActor, type ActorDefinition } from "../runtime/actor.ts";
import { createValidator, type ValidatorOptions } from "./validate.ts";

/** `validate`: RAW → EVENTS (valid, normalised) or DLQ (with the schema error). */
export function validateActor(opts: ValidatorOptions): ActorDefinition {
  const verdictOf = createValidator(opts);
  const quality = createQualityGate(loadSuites());
  return defineActor({
    name: "validate",
    consumes: CONSUMERS.validate,
    emits: ["EVENTS", "DLQ", "DQ"],
    batch: { max_messages: 1_000, max_wait_ms: 5 },
    handle(batch, ctx) {
      for (const input of batch) {
        const verdict = quality.admit(input, verdictOf(input));
        if (verdict.ok) ctx.emit(input, verdict.out);
        else ctx.reject(input, verdict.error);
      }
    },
    // Data-quality counts leave once a second, whether or not messages arrive.
    tick: { every_ms: 1_000, handle: (now, ctx) => quality.report(now).forEach((out) => ctx.emitUnbound(out)) },
  });
}

export { createValidator, type Verdict, type ValidatorOptions } from "./validate.ts";
export { parseEventTime } from "./event-time.ts";
export { BUILT_IN_SCHEMAS, statedVersion, type SchemaSource } from "./versions.ts";
