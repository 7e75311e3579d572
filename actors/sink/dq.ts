import { dqResultRow, type DqResultRecord } from "../../clickhouse/rows-quality.ts";
import { CONSUMERS } from "../../subjects/consumers.ts";
import type { ActorDefinition } from "../runtime/actor.ts";
import { PoisonError } from "../runtime/errors.ts";
import { sinkActor, type SinkSettings } from "./sink.ts";

const decoder = new TextDecoder();

/** `clickhouse-sink-dq`: DQ → sluice.dq_results, one row per report. */
export function dqSinkActor(settings: SinkSettings): ActorDefinition {
  return sinkActor({
    name: "clickhouse-sink-dq",
    consumes: CONSUMERS.sinkDq,
    table: "dq_results",
    maxRows: settings.maxRows,
    maxWaitMs: settings.maxWaitMs,
    toRow: (input) => {
      let record: DqResultRecord;
      try {
        record = JSON.parse(decoder.decode(input.data)) as DqResultRecord;
      } catch (err) {
        throw new PoisonError("json", `${input.subject} (seq ${input.seq}): not a data-quality report`, { cause: err });
      }
      return dqResultRow(record);
    },
  });
}
