import { suite } from "uvu";
import type { OpenClickHouse } from "../../clickhouse/index.ts";
import { ClickHouseServer } from "../harness/clickhouse-server.ts";
import { refitStoresAndServes, seeded } from "./forecast-service.ts";

const test = suite<{ server: ClickHouseServer; ch: OpenClickHouse; cleanup: () => Promise<void> }>("forecast service on clickhouse-server 18.16");

test.before(async (ctx) => {
  ctx.server = await ClickHouseServer.start();
  const s = await seeded(ctx.server.url);
  ctx.ch = s.ch;
  ctx.cleanup = s.cleanup;
});
test.after(async (ctx) => {
  await ctx.cleanup?.();
  await ctx.server?.stop();
});

test("a refit on a server without DateTime64 stores and serves the same forecasts", async ({ ch }) => {
  await refitStoresAndServes(ch);
});

test.run();
