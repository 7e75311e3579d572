/**
 * Test traffic typed the way people type it with `nats pub`: plain core publishes of JSON,
 * some with template output (`{{TimeStamp}}`, `{{Unix}}`, `{{UnixNano}}`, `{{ID}}`, `{{Count}}`).
 */
export interface TestMessage {
  subject: string;
  body: string;
}

/** `n` valid IoT readings with temperatures, spread over a few sensors and minutes of event time. */
export function validReadings(n: number, baseMs = Date.UTC(2026, 10, 27, 10, 0, 0), sensors = 5): TestMessage[] {
  const out: TestMessage[] = [];
  for (let i = 0; i < n; i++) {
    const sensor = `sensor-${i % sensors}`;
    const t = baseMs + i * 250;
    const ts = i % 4 === 0 ? JSON.stringify(new Date(t).toISOString().replace(".000Z", "Z").replace(/\.\d{3}Z$/, "Z"))
      : i % 4 === 1 ? String(Math.floor(t / 1000))
      : i % 4 === 2 ? `${t}000000`
      : JSON.stringify(new Date(t).toISOString());
    out.push({ subject: `raw.iot.${sensor}`, body: `{"sensor_id":"${sensor}","ts":${ts},"temperature":${(20 + (i % 7) * 0.5).toFixed(1)},"seq":${i + 1}}` });
  }
  return out;
}

/** `m` messages that must be dead-lettered, one reason after another. */
export function invalidMessages(m: number): TestMessage[] {
  const kinds: TestMessage[] = [
    { subject: "raw.iot.sensor-1", body: `{"sensor_id":"sensor-1","ts":` },
    { subject: "raw.iot.sensor-1", body: `{"sensor_id":"sensor-1","ts":"2026-11-27T10:00:00Z","temperature":"warm"}` },
    { subject: "raw.txn.cust-1", body: `{"customer_id":"cust-1","ts":1764237600,"amount":3}` },
    { subject: "raw.iot.sensor-1", body: `[1,2,3]` },
    { subject: "raw.weather.x", body: `{"ts":1764237600}` },
  ];
  return Array.from({ length: m }, (_, i) => kinds[i % kinds.length]);
}

/**
 * One humidity-only reading per sensor far ahead in event time: it moves every partition's
 * watermark past the test's windows so they close, without adding to any temperature window.
 */
export function watermarkFlush(afterMs: number, sensors = 5): TestMessage[] {
  return Array.from({ length: sensors }, (_, i) => ({
    subject: `raw.iot.sensor-${i}`,
    body: `{"sensor_id":"sensor-${i}","ts":${Math.floor(afterMs / 1000)},"humidity":50}`,
  }));
}
