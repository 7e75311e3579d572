// `node --import tsx tests/harness/set-up-like-sluice-up.ts <nats url>`: streams and shipped
// schemas as `sluice up` sets them up as admin, for the configuration in the environment. The
// harness runs it (synchronously) before a `sluice actor` process under SLUICE_TEST_NATS_AUTH=on,
// whose own user may only check streams and read the registry.
import { connect } from "@nats-io/transport-node";
import { loadConfig } from "../../config/index.ts";
import { setUpLikeSluiceUp } from "./nats-auth.ts";

const url = process.argv[2];
if (!url) throw new Error("usage: set-up-like-sluice-up.ts <nats url>");
// No credentials: the harness server maps this connection to its test probe user.
const nc = await connect({ servers: url, timeout: 5_000, reconnect: false });
try {
  await setUpLikeSluiceUp(nc, loadConfig(process.env));
} finally {
  await nc.close();
}
