import { CONSUMERS } from "../../subjects/consumers.ts";
import { defineActor, type ActorDefinition } from "../runtime/actor.ts";
import { createValidator, type ValidatorOptions } from "./validate.ts";

/** `validate`: RAW → EVENTS (valid, normalised) or DLQ (with the schema error). */
export function validateActor(opts: ValidatorOptions): ActorDefinition {
  const verdictOf = createValidator(opts);
  return defineActor({
    name: "validate",
    consumes: CONSUMERS.validate,
    emits: ["EVENTS", "DLQ"],
    batch: { max_messages: 1_000, max_wait_ms: 5 },
    handle(batch, ctx) {
      for (const input of batch) {
        const verdict = verdictOf(input);
        if (verdict.ok) ctx.emit(input, verdict.out);
        else ctx.reject(input, verdict.error);
      }
    },
  });
}

export { createValidator, type Verdict, type ValidatorOptions } from "./validate.ts";
export { parseEventTime } from "./event-time.ts";
