import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect } from "@nats-io/transport-node";
import { NatsServer } from "./harness/nats-server.ts";

test("a spawned nats-server answers and survives a restart on the same port", async () => {
  const server = await NatsServer.start();
  try {
    const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    const port = server.port;
    await nc.flush();
    await server.restart(200);
    assert.is(server.port, port);
    let reconnected = false;
    for (let i = 0; i < 50 && !reconnected; i++) {
      reconnected = await nc.flush().then(() => true, () => false);
      if (!reconnected) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(reconnected, "client reconnected after the restart");
    await nc.close();
  } finally {
    await server.stop();
  }
});

test.run();
