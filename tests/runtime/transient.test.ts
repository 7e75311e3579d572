// Which errors the runtime treats as a cluster between leaders (actors/runtime/transient.ts), and
// that only those make a read or a publish try again.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { BrokerTimeoutError } from "../../nats/deadline.ts";
import { PublishRefusedError } from "../../nats/publish.ts";
import { isClusterTransient, publishThroughElection, readRetrying } from "../../actors/runtime/transient.ts";

const test = suite("runtime: cluster-transient errors are retried, others are not");

test("timeouts, no responders and 'temporarily unavailable' are transient, also as a cause; a schema error is not", () => {
  assert.ok(isClusterTransient(new BrokerTimeoutError("kv get", 5_000)));
  assert.ok(isClusterTransient(Object.assign(new Error("503"), { name: "NoResponders" })));
  assert.ok(isClusterTransient(Object.assign(new Error("JetStream system temporarily unavailable"), { name: "JetStreamApiError", code: 10008 })));
  assert.ok(isClusterTransient(new Error("validate task iot failed", { cause: new Error("jetstream is not enabled: no responders") })));
  assert.not.ok(isClusterTransient(new Error("schema iot v3 is not registered")));
  assert.not.ok(isClusterTransient(Object.assign(new Error("wrong last sequence: 7"), { name: "JetStreamApiError", code: 10071 })));
});

test("a read is tried once per attempt on transient errors, and not again on another error", async () => {
  let calls = 0;
  const value = await readRetrying(async () => {
    if (++calls < 3) throw new BrokerTimeoutError("object get", 10);
    return "blob";
  }, { what: "object get", attemptsMs: [1_000, 1_000, 1_000] });
  assert.is(value, "blob");
  assert.is(calls, 3);

  calls = 0;
  const err = await readRetrying(async () => {
    calls++;
    throw new Error("missing object");
  }, { what: "object get", attemptsMs: [1_000, 1_000] }).catch((e: Error) => e);
  assert.is((err as Error).message, "missing object");
  assert.is(calls, 1, "a non-transient error is not retried");

  calls = 0;
  const last = await readRetrying(async () => {
    calls++;
    throw new BrokerTimeoutError("kv get", 10);
  }, { what: "kv get", attemptsMs: [500, 500] }).catch((e: Error) => e);
  assert.is(calls, 2, "no more tries than attempts");
  assert.is((last as Error).name, "RetryableError");
});

test("a publish no stream answered (503) is sent again; a refused one is not", async () => {
  let calls = 0;
  const ack = await publishThroughElection(async () => {
    if (++calls < 3) throw new PublishRefusedError("events.iot.0", 503, "no stream answered");
    return { seq: 9 };
  });
  assert.equal(ack, { seq: 9 });
  assert.is(calls, 3);
  calls = 0;
  const err = await publishThroughElection(async () => {
    calls++;
    throw new PublishRefusedError("events.iot.0", 10071, "wrong last sequence");
  }).catch((e: Error) => e);
  assert.is((err as PublishRefusedError).code, 10071);
  assert.is(calls, 1);
});

test.run();
