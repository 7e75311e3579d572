/**
 * Preloaded into a `sluice actor validate` process (NODE_OPTIONS="--import tsx --import <this
 * file>"), it makes the process stop itself (SIGSTOP) once, just before it sends a batch of events
 * to EVENTS — after its lease check, where a stall lets a stale holder's batch land late. The
 * stall is real: no timer of the process runs until the test sends SIGCONT.
 * STALL_AFTER_RAW_SEQ=<n>: stop before the first batch to `events.iot.*` whose first input comes
 * after RAW sequence n (unset: never). Prints `STALLED <msg id> <subject>` first.
 */
import { NatsConnectionImpl } from "@nats-io/nats-core/internal";
import type { PublishOptions } from "@nats-io/nats-core";
import { rawRangeOfBatchId } from "../../subjects/event-batch.ts";
import { HEADERS } from "../../subjects/catalog.ts";

const after = Number(process.env.STALL_AFTER_RAW_SEQ ?? "-1");
let stalled = after < 0;
const publish = NatsConnectionImpl.prototype.publish;
NatsConnectionImpl.prototype.publish = function (this: NatsConnectionImpl, subject: string, data?: Uint8Array | string, opts?: PublishOptions) {
  if (!stalled && subject.startsWith("events.iot.")) {
    const id = opts?.headers?.get(HEADERS.msgId);
    const range = rawRangeOfBatchId(id);
    if (range && range.from > after) {
      stalled = true;
      // A pipe's write is synchronous on Linux: the line is out before the stop.
      process.stdout.write(`STALLED ${id} ${subject}\n`);
      process.kill(process.pid, "SIGSTOP");
    }
  }
  return publish.call(this, subject, data, opts);
};
