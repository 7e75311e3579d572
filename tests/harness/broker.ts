import type { Test } from "uvu";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { NatsServer } from "./nats-server.ts";
import { ensureStreams } from "../../subjects/setup.ts";

export interface BrokerContext {
  nats: NatsServer;
  nc: NatsConnection;
}

/** A nats-server of the suite's own with sluice's streams: started before its first test, stopped after its last. */
export function withBroker<T extends BrokerContext>(test: Test<T>): void {
  test.before(async (ctx) => {
    ctx.nats = await NatsServer.start();
    ctx.nc = await connect({ servers: ctx.nats.url });
    await ensureStreams(await jetstreamManager(ctx.nc));
  });
  test.after(async (ctx) => {
    await ctx.nc?.close();
    await ctx.nats?.stop();
  });
}
