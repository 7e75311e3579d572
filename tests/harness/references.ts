import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import type { TestPipeline } from "./pipeline.ts";
import { waitFor } from "./wait.ts";

/**
 * Ids of stored readings of `sensor` whose payload contains `marker` (e.g. `"sensor_ref_rev":7`,
 * `"sensor_ref_missing":true`). The enrich stage follows the reference buckets through a KV watch,
 * so an entry just put applies to some later event: this publishes one reading per poll until one
 * carries the marker, or the timeout (then the list is empty).
 */
export async function enrichedReadings(nc: NatsConnection, pipeline: TestPipeline, sensor: string, marker: string, timeoutMs = 30_000): Promise<string[]> {
  let probes = 0;
  const stored = async () => {
    const id = `enrich-probe-${sensor}-${Date.now()}-${++probes}`;
    await jetstream(nc).publish(`raw.iot.${sensor}`, JSON.stringify({ sensor_id: sensor, ts: new Date().toISOString(), temperature: 21 }), { msgID: id });
    const rs = await pipeline.clickhouse!.client.query({ query: `SELECT event_id FROM sluice.events FINAL WHERE key = '${sensor}' AND position(payload, '${marker.replace(/'/g, "\\'")}') > 0 ORDER BY event_id`, format: "JSONEachRow" });
    return (await rs.json<{ event_id: string }>()).map((r) => r.event_id);
  };
  return waitFor(stored, (ids) => ids.length > 0, timeoutMs, 500);
}
