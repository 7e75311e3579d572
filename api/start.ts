import type { NatsConnection } from "@nats-io/transport-node";
import { embeddedDataDir, type Config } from "../config/index.ts";
import { allMetrics } from "../otel/metrics.ts";
import type { Logger } from "../otel/log.ts";
import { closeNats, connectNats } from "../nats/connect.ts";
import { openClickHouse, type OpenClickHouse } from "../clickhouse/client.ts";
import { createApp, type ApiDeps } from "./app.ts";
import { clickhouseRows, consumerLag, natsPing, natsSqlRows, type InProcessPipeline, type QueryRows } from "./deps.ts";
import { windowForecasts } from "./forecast.ts";
import { createForecastService, type ForecastService } from "./forecast-service.ts";
import { serveApi, type ServedApi } from "./serve.ts";
import { natsDeadLetters } from "./dlq.ts";
import type { Topology } from "../subjects/topology.ts";
import { listReports, reportsDir } from "../reports/store.ts";
import { natsRawReader } from "../lineage/raw.ts";
import { natsReferenceReader } from "../lineage/refs.ts";
import { tokensPath, watchTokens } from "../auth/tokens.ts";
import type { AuditEntry } from "../auth/audit.ts";
import { insertAudit } from "../clickhouse/audit.ts";
import { askAudit } from "../clickhouse/sql-rpc.ts";

/**
 * Starts the HTTP API for `sluice up` on `config.apiPort`. In the process that owns ClickHouse it
 * reads through the pipeline's client; otherwise (`--split`) it has its own NATS connection and
 * asks the owner of the embedded engine over `sluice.rpc.sql`, or opens the server at CLICKHOUSE_URL.
 */
export async function startApi(opts: { config: Config; natsUrl: string; pipeline?: InProcessPipeline; topology?: Topology; watermarks?: ApiDeps["watermarks"]; log: Logger }): Promise<ServedApi> {
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
  let direct: OpenClickHouse | undefined;
  let ownReader: OpenClickHouse | undefined;
  if (config.clickhouseUrl) {
    // Forecast and audit rows go in as the sink account (the pipeline's client where it runs here);
    // reads go through the reader account when it is another one.
    const { sink, reader } = config.clickhouseAccess;
    // Only the writing client carries the cluster's insert settings: a read-only account may not set them.
    const open = (account: typeof sink, cluster?: { cluster?: string; insertQuorum?: number }) => openClickHouse({ url: config.clickhouseUrl, user: account.user, password: account.password, dataDir: config.stateDir, ...cluster, logger: { info: (m) => opts.log.debug(m), warn: (m) => opts.log.warn(m) } });
    try {
      if (!pipeline?.clickhouse) ownClickHouse = await open(sink, { cluster: config.clickhouseCluster, insertQuorum: config.clickhouseInsertQuorum });
      if (reader.user !== sink.user) ownReader = await open(reader);
    } catch (err) {
      // A refused account ends the start: nothing this call opened stays open.
      await ownClickHouse?.close();
      if (ownNats) await closeNats(nc);
      throw err;
    }
  }
  direct = pipeline?.clickhouse ?? ownClickHouse;
  // With its own client on ClickHouse the API process also refits the hot forecasts and writes
  // sluice.forecasts; asking over NATS it only fits on request.
  let forecasts: ForecastService | undefined;
  if (direct) {
    const ch = direct;
    const readFrom = ownReader ?? ch;
    rows = clickhouseRows(() => readFrom.client);
    forecasts = createForecastService({ rows, client: () => ch.client, caps: ch.caps, refitMs: config.forecastRefitMs, log: opts.log });
  } else {
    rows = natsSqlRows(nc, embeddedDataDir(config));
  }
  const lag = consumerLag(nc);
  const directAudit = direct;
  const store = directAudit ? (e: AuditEntry) => insertAudit(directAudit.client, e) : (e: AuditEntry) => askAudit(nc, e, embeddedDataDir(config), 10_000);
  const audit = (e: AuditEntry) => store(e).catch((err: Error) => opts.log.warn(`audit: ${e.action} ${e.target} by ${e.actor} was not recorded in sluice.audit: ${err.message}`));
  const app = createApp({
    rows,
    pingNats: natsPing(nc),
    pingClickHouse: async () => {
      await rows("SELECT 1");
    },
    metrics: allMetrics,
    lag,
    forecast: forecasts ? forecasts.provider(windowForecasts(rows)) : windowForecasts(rows),
    topology: opts.topology,
    deadLetters: natsDeadLetters(nc),
    jaegerUiUrl: config.jaegerUiUrl,
    reports: () => listReports(reportsDir(config.stateDir)),
    raw: natsRawReader(nc),
    references: natsReferenceReader(nc),
    watermarks: opts.watermarks,
    audit,
    guard: { corsOrigins: config.apiSecurity.corsOrigins },
    auth: {
      tokens: watchTokens(tokensPath(config.stateDir)),
      required: config.apiSecurity.auth === "required",
      metricsAuth: config.apiSecurity.metricsAuth,
      ratePerSecond: config.apiSecurity.ratePerSecond,
    },
  });
  const served = await serveApi(app, config.apiPort, config.apiHost);
  opts.log.info(`api: listening on ${served.url}`);
  forecasts?.start();
  return {
    ...served,
    async close() {
      await served.close();
      await forecasts?.stop();
      await ownClickHouse?.close();
      await ownReader?.close();
      if (ownNats) await closeNats(nc);
    },
  };
}
