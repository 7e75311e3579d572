// Child process for lock.test.ts: opens chDB at argv[2], says "ready", and holds it until SIGTERM.
import { openClickHouse } from "../../clickhouse/index.ts";

const ch = await openClickHouse({ dataDir: process.argv[2], logger: { info() {}, warn() {} } });
process.stdout.write("ready\n");
process.once("SIGTERM", () => {
  void ch.close().then(() => process.exit(0));
});
setInterval(() => undefined, 60_000);
