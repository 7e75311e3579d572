import * as assert from "uvu/assert";
import { freshKey, hostileSuite, recent, runCases } from "./corpus.ts";
import { getDeadLetter, listDeadLetters } from "../../api/dlq.ts";
import { HEADERS } from "../../subjects/catalog.ts";

const MAX = 8_192;
const test = hostileSuite("hostile: payloads at and over the server's max_payload", { maxPayload: MAX });

/** A body of exactly `size` bytes: the reading with a padding field. */
function padded(key: string, size: number, fields: Record<string, unknown> = {}): string {
  const base = JSON.stringify({ sensor_id: key, ts: recent(), temperature: 20, ...fields, pad: "" });
  return base.replace(`"pad":""`, `"pad":"${"x".repeat(size - base.length)}"`);
}

test("under, at and over max_payload: stored, dead-lettered (too_large / cut to fit) or refused, never stuck", async (ctx) => {
  const [small, atMax, badAtMax, over] = [freshKey("lim"), freshKey("lim"), freshKey("lim"), freshKey("lim")];
  assert.is(padded(atMax, MAX).length, MAX);
  await runCases(ctx, [
    { name: "half the limit", subject: `raw.iot.${small}`, body: padded(small, MAX / 2), expect: "event" },
    { name: "valid, exactly at the limit: its envelope cannot fit", subject: `raw.iot.${atMax}`, body: padded(atMax, MAX), expect: "too_large",
      check: (r) => assert.ok(r.payload.length < MAX, "the dead letter's body was cut to fit") },
    { name: "invalid, exactly at the limit", subject: `raw.iot.${badAtMax}`, body: padded(badAtMax, MAX, { temperature: "hot" }), expect: "schema" },
    { name: "one byte over", subject: `raw.iot.${over}`, body: padded(over, MAX + 1), expect: "refused" },
  ]);
  const [letter] = await listDeadLetters(ctx.nc, { reason: "too_large" });
  const shown = await getDeadLetter(ctx.nc, letter.id);
  assert.is(shown?.headers[HEADERS.truncated], String(MAX), "the original size is recorded");
});

test("a burst of at-limit messages between valid ones: every one accounted for", async (ctx) => {
  const cases = Array.from({ length: 30 }, (_, i) => {
    const key = freshKey("burst");
    return i % 3 === 0
      ? { name: `big ${i}`, subject: `raw.iot.${key}`, body: padded(key, MAX), expect: "too_large" }
      : { name: `ok ${i}`, subject: `raw.iot.${key}`, body: JSON.stringify({ sensor_id: key, ts: recent(), humidity: 40 }), expect: "event" };
  });
  await runCases(ctx, cases);
});

test.run();
