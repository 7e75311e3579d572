import { parseRawSubject, subject } from "../../subjects/catalog.ts";
import { isSource, SOURCES, type Source } from "../../subjects/sources.ts";
import type { TaskSpec } from "../runtime/keyed/actor.ts";

/** A validate task: one source's subjects, or (`source` undefined) whatever on RAW belongs to no source. */
export interface ValidateTask extends TaskSpec {
  readonly source: Source | undefined;
}

/** The task of RAW subjects that name no known source (`raw.bogus.x`, `raw.iot`, `raw`…). */
export const OTHER_TASK = "other";

/**
 * One task per source over `raw.<source>.>`, and `other` over all of `raw.>`. A filter cannot say
 * "not these sources", and NATS 2.9 consumers take one filter subject, so `other` reads every RAW
 * message and handles only those {@link ownedBy} gives it: RAW is delivered twice, once to its
 * source's task and once to `other`, which looks at the subject alone.
 */
export function validateTasks(): ValidateTask[] {
  return [
    ...SOURCES.map((source) => ({ id: source, filter: subject.rawAll(source), source })),
    { id: OTHER_TASK, filter: subject.rawAll(), source: undefined },
  ];
}

/**
 * The task that handles a RAW subject: its source's task exactly when the subject matches
 * `raw.<source>.>` (three tokens or more, a known source), else `other`.
 */
export function ownedBy(rawSubject: string): string {
  const parsed = parseRawSubject(rawSubject);
  return parsed && isSource(parsed.source) ? parsed.source : OTHER_TASK;
}
