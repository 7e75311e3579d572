import { test } from "uvu";
import * as assert from "uvu/assert";
import { PII_FIELDS, SCHEMAS_V1 } from "../../subjects/schemas/index.ts";
import { KEY_FIELD, SOURCES, type Source } from "../../subjects/sources.ts";
import { v1Validators } from "./validators.ts";

const validate = v1Validators();

// Message bodies as `nats pub` prints its templates: {{TimeStamp}} is Go's RFC 3339, {{Unix}} and
// {{UnixNano}} bare integers, and any of them quoted when the template quotes them.
const ACCEPTED: Record<Source, string[]> = {
  iot: [
    `{"sensor_id":"s1","ts":"2026-11-27T10:00:00Z","temperature":21}`,
    `{"sensor_id":"s1","ts":"2026-11-27T11:00:00+01:00","temperature":21.5}`,
    `{"sensor_id":"s1","ts":"2026-11-27T10:00:00.123456789Z","humidity":40}`,
    `{"sensor_id":"s1","ts":1764237600,"temperature":21}`,
    `{"sensor_id":"s1","ts":1764237600123,"pressure":1013.2}`,
    `{"sensor_id":"s1","ts":1764237600123456789,"battery":3.3}`,
    `{"sensor_id":"s1","ts":1764237600.25,"temperature":-4}`,
    `{"sensor_id":"s1","ts":"1764237600","temperature":21}`,
    `{"sensor_id":"s1","ts":"1764237600123456789","temperature":21}`,
    `{"sensor_id":"s1","site":"plant-a","ts":"2026-11-27T10:00:00Z","event_id":"e-1","temperature":21,"humidity":0,"pressure":990,"battery":0,"firmware":"1.4.2"}`,
  ],
  social: [
    `{"user_id":"u1","topic":"football","text":"what a goal","ts":"2026-11-27T10:00:00Z"}`,
    `{"user_id":"u1","topic":"football","text":"","ts":1764237600,"post_id":"p1","lang":"en","likes":0,"reposts":3,"client":"web"}`,
    `{"user_id":"u1","topic":"football","text":"${"a".repeat(5000)}","ts":"1764237600"}`,
  ],
  txn: [
    `{"customer_id":"c1","merchant_id":"m1","amount":12.5,"currency":"EUR","ts":"2026-11-27T10:00:00Z"}`,
    `{"customer_id":"c1","merchant_id":"m1","amount":-3,"currency":"JPY","ts":1764237600123456789}`,
    `{"customer_id":"c1","merchant_id":"m1","amount":0,"currency":"USD","ts":1764237600,"txn_id":"t1","country":"US","lat":-90,"lon":180,"channel":"atm","card_number":"411111111111","email":"a.b@example.com"}`,
    `{"customer_id":"c1","merchant_id":"m1","amount":99,"currency":"GBP","ts":"1764237600","channel":"online","card_number":"4111111111111111111"}`,
  ],
};

const REJECTED: Record<Source, Array<[why: string, body: string]>> = {
  iot: [
    ["no metric", `{"sensor_id":"s1","ts":"2026-11-27T10:00:00Z"}`],
    ["no sensor_id", `{"ts":"2026-11-27T10:00:00Z","temperature":21}`],
    ["no ts", `{"sensor_id":"s1","temperature":21}`],
    ["metric as a string (no coercion)", `{"sensor_id":"s1","ts":"2026-11-27T10:00:00Z","temperature":"21"}`],
    ["metric null", `{"sensor_id":"s1","ts":"2026-11-27T10:00:00Z","temperature":null}`],
    ["sensor_id as a number", `{"sensor_id":1,"ts":"2026-11-27T10:00:00Z","temperature":21}`],
    ["empty sensor_id", `{"sensor_id":"","ts":"2026-11-27T10:00:00Z","temperature":21}`],
    ["humidity above 100", `{"sensor_id":"s1","ts":"2026-11-27T10:00:00Z","humidity":100.5}`],
    ["humidity below 0", `{"sensor_id":"s1","ts":"2026-11-27T10:00:00Z","humidity":-1}`],
    ["below absolute zero", `{"sensor_id":"s1","ts":"2026-11-27T10:00:00Z","temperature":-300}`],
    ["ts without a zone", `{"sensor_id":"s1","ts":"2026-11-27T10:00:00","temperature":21}`],
    ["ts as words", `{"sensor_id":"s1","ts":"yesterday","temperature":21}`],
    ["ts negative", `{"sensor_id":"s1","ts":-5,"temperature":21}`],
    ["ts boolean", `{"sensor_id":"s1","ts":true,"temperature":21}`],
    ["ts with a sign in the string", `{"sensor_id":"s1","ts":"-1764237600","temperature":21}`],
    ["empty event_id", `{"sensor_id":"s1","ts":1764237600,"event_id":"","temperature":21}`],
    ["event_id over 128 chars", `{"sensor_id":"s1","ts":1764237600,"event_id":"${"e".repeat(129)}","temperature":21}`],
    ["not an object", `[{"sensor_id":"s1","ts":1764237600,"temperature":21}]`],
  ],
  social: [
    ["no topic", `{"user_id":"u1","text":"hi","ts":1764237600}`],
    ["no text", `{"user_id":"u1","topic":"t","ts":1764237600}`],
    ["no user_id", `{"topic":"t","text":"hi","ts":1764237600}`],
    ["text over 5000", `{"user_id":"u1","topic":"t","text":"${"a".repeat(5001)}","ts":1764237600}`],
    ["three-letter lang", `{"user_id":"u1","topic":"t","text":"hi","ts":1764237600,"lang":"eng"}`],
    ["upper-case lang", `{"user_id":"u1","topic":"t","text":"hi","ts":1764237600,"lang":"EN"}`],
    ["negative likes", `{"user_id":"u1","topic":"t","text":"hi","ts":1764237600,"likes":-1}`],
    ["fractional reposts", `{"user_id":"u1","topic":"t","text":"hi","ts":1764237600,"reposts":1.5}`],
    ["likes as a string", `{"user_id":"u1","topic":"t","text":"hi","ts":1764237600,"likes":"3"}`],
  ],
  txn: [
    ["no merchant_id", `{"customer_id":"c1","amount":1,"currency":"EUR","ts":1764237600}`],
    ["no amount", `{"customer_id":"c1","merchant_id":"m1","currency":"EUR","ts":1764237600}`],
    ["no currency", `{"customer_id":"c1","merchant_id":"m1","amount":1,"ts":1764237600}`],
    ["amount as a string", `{"customer_id":"c1","merchant_id":"m1","amount":"12.50","currency":"EUR","ts":1764237600}`],
    ["lower-case currency", `{"customer_id":"c1","merchant_id":"m1","amount":1,"currency":"eur","ts":1764237600}`],
    ["four-letter currency", `{"customer_id":"c1","merchant_id":"m1","amount":1,"currency":"EURO","ts":1764237600}`],
    ["currency symbol", `{"customer_id":"c1","merchant_id":"m1","amount":1,"currency":"€","ts":1764237600}`],
    ["three-letter country", `{"customer_id":"c1","merchant_id":"m1","amount":1,"currency":"EUR","ts":1764237600,"country":"DEU"}`],
    ["latitude out of range", `{"customer_id":"c1","merchant_id":"m1","amount":1,"currency":"EUR","ts":1764237600,"lat":91}`],
    ["longitude out of range", `{"customer_id":"c1","merchant_id":"m1","amount":1,"currency":"EUR","ts":1764237600,"lon":-180.5}`],
    ["unknown channel", `{"customer_id":"c1","merchant_id":"m1","amount":1,"currency":"EUR","ts":1764237600,"channel":"pos"}`],
    ["card number with dashes", `{"customer_id":"c1","merchant_id":"m1","amount":1,"currency":"EUR","ts":1764237600,"card_number":"4111-1111-1111-1111"}`],
    ["card number of 11 digits", `{"customer_id":"c1","merchant_id":"m1","amount":1,"currency":"EUR","ts":1764237600,"card_number":"41111111111"}`],
    ["card number of 20 digits", `{"customer_id":"c1","merchant_id":"m1","amount":1,"currency":"EUR","ts":1764237600,"card_number":"41111111111111111111"}`],
    ["card number as a number", `{"customer_id":"c1","merchant_id":"m1","amount":1,"currency":"EUR","ts":1764237600,"card_number":4111111111111111}`],
    ["malformed email", `{"customer_id":"c1","merchant_id":"m1","amount":1,"currency":"EUR","ts":1764237600,"email":"not-an-email"}`],
  ],
};

for (const source of SOURCES) {
  test(`${source}: payloads as producers and nats pub templates write them are accepted`, () => {
    for (const body of ACCEPTED[source]) {
      const ok = validate[source](JSON.parse(body));
      assert.ok(ok, `${body.slice(0, 120)} → ${JSON.stringify(validate[source].errors)}`);
    }
  });

  test(`${source}: wrong types, missing fields and out-of-range values are rejected`, () => {
    for (const [why, body] of REJECTED[source]) {
      assert.not.ok(validate[source](JSON.parse(body)), `accepted although ${why}: ${body.slice(0, 120)}`);
    }
  });

  test(`${source}: the key field is required and ts is required`, () => {
    const required = SCHEMAS_V1[source].required as string[];
    assert.ok(required.includes(KEY_FIELD[source]), `${source} requires ${KEY_FIELD[source]}`);
    assert.ok(required.includes("ts"), `${source} requires ts`);
  });
}

test("a rejection names the offending field", () => {
  validate.txn(JSON.parse(`{"customer_id":"c1","merchant_id":"m1","amount":1,"currency":"eur","ts":1764237600}`));
  assert.equal(validate.txn.errors?.map((e) => e.instancePath), ["/currency"]);
});

test("PII fields are read from the schemas (v1 and v2): txn's card, e-mail, phone and coordinates, social's device IP", () => {
  assert.equal(PII_FIELDS, { iot: [], social: ["device_ip"], txn: ["card_number", "email", "lat", "lon", "phone"] });
});

test.run();
