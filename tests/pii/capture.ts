import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { startTelemetry, type Telemetry } from "../../otel/index.ts";

/**
 * Everything a PII test must find clean besides streams and tables: the OTLP spans the process
 * exports (received by a local HTTP endpoint) and every line it writes to stdout and stderr
 * (still shown).
 */
export interface Capture {
  readonly spans: string[];
  readonly logs: string[];
  readonly telemetry: Telemetry;
  stop(): Promise<void>;
}

export async function startCapture(): Promise<Capture> {
  const spans: string[] = [];
  const logs: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      spans.push(body);
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const out = process.stdout.write.bind(process.stdout), err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => (logs.push(String(chunk)), out(chunk, ...rest))) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => (logs.push(String(chunk)), err(chunk, ...rest))) as typeof process.stderr.write;
  const telemetry = startTelemetry({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, log: () => undefined });
  return {
    spans, logs, telemetry,
    async stop() {
      process.stdout.write = out;
      process.stderr.write = err;
      await telemetry.shutdown().catch(() => undefined);
      server.close();
    },
  };
}
