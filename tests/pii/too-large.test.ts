// A payment that RAW takes but whose event would exceed the server's max_payload is dead-lettered
// as too_large by validate itself, with its personal fields protected (the runtime's own check
// would send RAW's clear bytes to DLQ).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect } from "@nats-io/transport-node";
import { NatsServer } from "../harness/nats-server.ts";
import { publishAll, startTestPipeline, streamCount } from "../harness/pipeline.ts";
import { waitFor } from "../harness/wait.ts";
import { listDeadLetters } from "../../api/dlq.ts";
import { HEADERS } from "../../subjects/catalog.ts";

const CARD = "4929123456789012";
const EMAIL = "big.spender@example.com";

test("an event over max_payload: a too_large dead letter whose body holds the card as a token, the e-mail encrypted", async () => {
  const nats = await NatsServer.start();
  const nc = await connect({ servers: nats.url });
  const pipeline = await startTestPipeline(nats.url, { actors: ["validate"] });
  try {
    const max = nc.info!.max_payload;
    const head = { customer_id: "c-big", merchant_id: "m-1", amount: 1, currency: "EUR", card_number: CARD, email: EMAIL, ts: new Date().toISOString(), notes: "" };
    // As large as RAW takes: the event (envelope, token, ciphertext, headers) is then over the limit.
    const body = JSON.stringify({ ...head, notes: "x".repeat(max - JSON.stringify(head).length - 256) });
    await publishAll(nc, [{ subject: "raw.txn.c-big", body }]);
    const [dl] = await waitFor(() => listDeadLetters(nc, { source: "txn", reason: "too_large" }), (l) => l.length === 1, 30_000);
    assert.ok(dl, "dead-lettered as too_large");
    assert.match(dl.reason, new RegExp(`over the server's max_payload of ${max}`));
    const text = new TextDecoder().decode(dl.data);
    assert.not.ok(text.includes(CARD) || text.includes(EMAIL), "no clear value in the dead letter");
    assert.match(text, /"card_number":"tok_[A-Za-z0-9_-]+","email":"enc:v1:k1:/, "the protected body (cut to fit)");
    assert.ok(Number(dl.headers[HEADERS.truncated]) > text.length, "cut, and the original size said");
    assert.is(await streamCount(nc, "EVENTS"), 0);
  } finally {
    await pipeline.cleanup();
    await nc.close();
    await nats.stop();
  }
});

test.run();
