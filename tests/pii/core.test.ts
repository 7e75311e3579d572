import { test } from "uvu";
import * as assert from "uvu/assert";
import { createIngestProtection, createProtector, decrypt, encrypt, generalize, mask, newKeyring, parseKeyring, PiiDecryptError, PiiPolicyError, policyOf, rotateKeyring, serializeKeyring, tokenize } from "../../pii/index.ts";
import { SCHEMAS_V2 } from "../../subjects/schemas/index.ts";
import { createGenerator } from "../../actors/generate/index.ts";
import { luhn, NOT_SHOWN_RAW, redactRaw } from "../../pii/index.ts";
const luhnValid = (s: string) => /^[0-9]{12,19}$/.test(s) && luhn(s);

const ring = newKeyring();

test("the v2 schemas declare a rule for every personal field", () => {
  assert.equal(Object.fromEntries([...policyOf(SCHEMAS_V2.txn)].map(([f, r]) => [f, r.action])), { lat: "generalize", lon: "generalize", card_number: "tokenize", email: "encrypt", phone: "mask" });
  assert.equal([...policyOf(SCHEMAS_V2.social).keys()], ["device_ip"]);
});

test("a wrong annotation names the field and the allowed actions", () => {
  assert.throws(() => policyOf({ properties: { card: { "x-sluice-pii": "hash" } } }), (e: unknown) => e instanceof PiiPolicyError && e.field === "card" && /mask, tokenize, encrypt, generalize, drop/.test(e.message));
});

test("encrypt with an event's id: the same event gives the same ciphertext (a re-validation publishes the same), other events and values differ, all decrypt", () => {
  const a = encrypt("ada@example.com", "email", ring, "evt-1");
  assert.is(encrypt("ada@example.com", "email", ring, "evt-1"), a);
  assert.is.not(encrypt("ada@example.com", "email", ring, "evt-2"), a, "equal values in two events do not show as equal");
  assert.is.not(encrypt("bob@example.com", "email", ring, "evt-1"), a);
  assert.is.not(encrypt("ada@example.com", "email", rotateKeyring(ring), "evt-1"), a);
  for (const c of [a, encrypt("ada@example.com", "email", ring, "evt-2")]) assert.is(decrypt(c, "email", ring), "ada@example.com");
  const protect = createProtector(() => policyOf(SCHEMAS_V2.txn), ring);
  assert.equal(protect("txn", { email: "ada@example.com" }, "evt-1"), protect("txn", { email: "ada@example.com" }, "evt-1"));
});

test("redactRaw: every field the stored event holds otherwise is withheld; equal ones, nested too, are shown", () => {
  const raw = JSON.stringify({ customer_id: "c-1", card_number: "4111111111111111", lat: 51.50735, phone: "+447700900123", notes: { a: 1 }, schema_version: 2 });
  const stored = { customer_id: "c-1", card_number: "tok_abc", lat: 51.5, notes: { a: 1 }, merchant_category: "grocery" };
  assert.equal(JSON.parse(redactRaw(raw, stored)!), { customer_id: "c-1", card_number: NOT_SHOWN_RAW, lat: NOT_SHOWN_RAW, phone: NOT_SHOWN_RAW, notes: { a: 1 }, schema_version: NOT_SHOWN_RAW });
  const same = '{"customer_id": "c-1",  "lat":51.5}';
  assert.is(redactRaw(same, stored), same, "nothing to withhold: the text as it came");
  assert.is(redactRaw("not json 4111111111111111", stored), undefined);
  assert.is(redactRaw("[1]", stored), undefined);
});

test("mask keeps the last 4 characters", () => {
  assert.is(mask("+4915112345678"), "**********5678");
  assert.is(mask("abc"), "***");
});

test("tokens are stable for one key, differ across keys, and carry no digit run of the value", () => {
  const a = tokenize("4111111111111111", ring.tokenKey);
  assert.is(a, tokenize("4111111111111111", ring.tokenKey));
  assert.is.not(a, tokenize("4111111111111112", ring.tokenKey));
  assert.is.not(a, tokenize("4111111111111111", newKeyring().tokenKey));
  assert.ok(a.startsWith("tok_") && !a.includes("1111"));
});

test("encrypt without a context: random nonce, key id in the text, decrypts with the key, fails cleanly without it or in another field", () => {
  const a = encrypt("ada@example.com", "email", ring), b = encrypt("ada@example.com", "email", ring);
  assert.is.not(a, b);
  assert.ok(a.startsWith("enc:v1:k1:"));
  assert.is(decrypt(a, "email", ring), "ada@example.com");
  assert.throws(() => decrypt(a, "email", undefined), (e: unknown) => e instanceof PiiDecryptError && e.keyId === "k1" && !e.message.includes("ada"));
  assert.throws(() => decrypt(a, "email", newKeyring()), (e: unknown) => e instanceof PiiDecryptError && /wrong key or altered/.test(e.message));
  assert.throws(() => decrypt(a, "phone", ring), (e: unknown) => e instanceof PiiDecryptError);
});

test("after a rotation new values use the new key and old ciphertexts still decrypt; the token key stays", () => {
  const old = encrypt(42.5, "lat", ring);
  const rotated = rotateKeyring(ring);
  assert.is(rotated.current, "k2");
  const fresh = encrypt(42.5, "lat", rotated);
  assert.ok(fresh.startsWith("enc:v1:k2:"));
  assert.is(decrypt(old, "lat", rotated), 42.5);
  assert.is(decrypt(fresh, "lat", rotated), 42.5);
  assert.is(tokenize("x", rotated.tokenKey), tokenize("x", ring.tokenKey));
  const reread = parseKeyring(serializeKeyring(rotated), "test");
  assert.is(decrypt(fresh, "lat", reread), 42.5);
});

test("generalize: coordinates to the grid, times to the hour, in the form they came", () => {
  assert.is(generalize(52.52437, { action: "generalize", grid: 0.1, to: "grid" }), 52.5);
  assert.is(generalize("2026-12-01T12:34:56.789Z", { action: "generalize", grid: 0.01, to: "hour" }), "2026-12-01T12:00:00.000Z");
  assert.is(generalize(Date.UTC(2026, 11, 1, 12, 34), { action: "generalize", grid: 0.01, to: "hour" }), Date.UTC(2026, 11, 1, 12));
});

test("a keyring error names the field, never key material", () => {
  const doc = JSON.parse(serializeKeyring(ring));
  assert.throws(() => parseKeyring(JSON.stringify({ ...doc, current: "k9" }), "ring.json"), (e: unknown) => e instanceof Error && /current "k9"/.test(e.message));
  assert.throws(() => parseKeyring(JSON.stringify({ ...doc, token_key: "c2hvcnQ=" }), "ring.json"), (e: unknown) => e instanceof Error && /token_key must be 32 bytes/.test(e.message) && !e.message.includes("c2hvcnQ"));
  assert.throws(() => parseKeyring(`{"token_key": "${doc.token_key}"`, "ring.json"), (e: unknown) => e instanceof Error && !e.message.includes(doc.token_key));
});

test("the protector applies the current policy and refuses to pass values through without keys", () => {
  const protect = createProtector(() => policyOf(SCHEMAS_V2.txn), ring);
  const out = protect("txn", { customer_id: "c1", card_number: "4111111111111111", email: "ada@example.com", phone: "+4915112345678", lat: 52.52437, lon: 13.41053, amount: 3 });
  assert.ok(String(out.card_number).startsWith("tok_"));
  assert.is(decrypt(String(out.email), "email", ring), "ada@example.com");
  assert.equal([out.phone, out.lat, out.lon, out.amount], ["**********5678", 52.5, 13.4, 3]);
  assert.throws(() => createProtector(() => policyOf(SCHEMAS_V2.txn), undefined)("txn", { card_number: "4111111111111111" }), (e: unknown) => e instanceof Error && e.name === "KeyringError" && /sluice keys init/.test(e.message));
});

test("the generator writes Luhn-valid card numbers, e-mails, E.164 phones and device IPs", () => {
  const events = createGenerator({ seed: 3, sources: ["txn", "social"] }).take(400);
  const txn = events.filter((e) => e.source === "txn").map((e) => e.payload as unknown as Record<string, unknown>);
  const social = events.filter((e) => e.source === "social").map((e) => e.payload as unknown as Record<string, unknown>);
  assert.ok(txn.length > 50 && social.length > 50);
  assert.ok(txn.every((p) => luhnValid(String(p.card_number))), "every card number passes Luhn");
  assert.ok(txn.some((p) => /^[^@\s]+@[^@\s]+\.[a-z]+$/i.test(String(p.email))));
  assert.ok(txn.some((p) => /^\+[0-9]{8,15}$/.test(String(p.phone))));
  assert.ok(social.every((p) => /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(String(p.device_ip))));
  assert.ok(!luhnValid("4111111111111112"));
});

const v2Source = { current: () => 2, get: (source: string, v: number) => (v === 2 && source in SCHEMAS_V2 ? { schema: SCHEMAS_V2[source as "txn"]!, revision: 1 } : undefined) };

test("ingest: a schema that tokenizes with no keyring fails the start check, naming the sources", () => {
  assert.throws(() => createIngestProtection(v2Source, undefined).checkKeys(["iot", "txn", "social"]), (e: unknown) => e instanceof Error && e.name === "KeyringError" && /txn, social/.test(e.message));
  createIngestProtection(v2Source, ring).checkKeys(["iot", "txn", "social"]);
});

test("ingest: a dead letter's body has its personal fields protected; a body that is no JSON object goes empty", () => {
  const pii = createIngestProtection(v2Source, ring);
  const body = new TextDecoder().decode(pii.deadLetterBody("txn", new TextEncoder().encode('{"card_number":"4111-1111-1111-1111","amount":"lots"}')));
  assert.ok(!body.includes("1111") && body.includes("tok_") && body.includes("lots"), body);
  assert.is(pii.deadLetterBody("txn", new TextEncoder().encode('{"card_number":"4111111111111111"'))?.length, 0);
  assert.is(pii.deadLetterBody("iot", new TextEncoder().encode("{}")), undefined, "a source without rules keeps its bytes");
});

test.run();
