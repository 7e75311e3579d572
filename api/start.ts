import type { NatsConnection } from "@nats-io/transport-node";
import type { Config } from "../config/index.ts";
import { allMetrics } from "../actors/runtime/metrics.ts";
import type { Logger } from "../actors/runtime/actor.ts";
import { connectNats, type Pipeline } from "../actors/pipeline.ts";
import { openClickHouse, type OpenClickHouse } from "../clickhouse/client.ts";
import { createApp } from "./app.ts";
import { clickhouseRows, consumerLag, natsPing, natsSqlRows, type QueryRows } from "./deps.ts";
import { windowForecasts } from "./forecast.ts";
import { serveApi, type ServedApi } from "./serve.ts";

/**
 * Starts the HTTP API for `sluice up` on `config.apiPort`. In the process that owns ClickHouse it
 * reads through the pipeline's client; otherwise (`--split`) it has its own NATS connection and
 * asks the owner of the embedded engine over `sluice.rpc.sql`, or opens the server at CLICKHOUSE_URL.
 */
export async function startApi(opts: { config: Config; natsUrl: string; pipeline?: Pipeline; log: Logger }): Promise<ServedApi> {
  const { config, pipeline } = opts;
  let nc: NatsConnection;
  let ownNats = false;
  let ownClickHouse: OpenClickHouse | undefined;
  if (pipeline) {
    nc = pipeline.nc;
  } else {
    nc = await connectNats(opts.natsUrl, config, "sluice:api");
    ownNats = true;
  }
  let rows: QueryRows;
  if (pipeline?.clickhouse) {
    const ch = pipeline.clickhouse;
    rows = clickhouseRows(() => ch.client);
  } else if (config.clickhouseUrl) {
    ownClickHouse = await openClickHouse({ url: config.clickhouseUrl, user: config.clickhouseUser, password: config.clickhousePassword, dataDir: config.stateDir, logger: { info: (m) => opts.log.debug(m), warn: (m) => opts.log.warn(m) } });
    const ch = ownClickHouse;
    rows = clickhouseRows(() => ch.client);
  } else {
    rows = natsSqlRows(nc);
  }
  const app = createApp({
    rows,
    pingNats: natsPing(nc),
    pingClickHouse: async () => {
      await rows("SELECT 1");
    },
    metrics: allMetrics,
    lag: consumerLag(nc),
    forecast: windowForecasts(rows),
  });
  const served = await serveApi(app, config.apiPort);
  opts.log.info(`api: listening on ${served.url}`);
  return {
    ...served,
    async close() {
      await served.close();
      await ownClickHouse?.close();
      if (ownNats) await nc.drain().catch(() => undefined);
    },
  };
}
