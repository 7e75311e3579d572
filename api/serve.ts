import type { Hono } from "hono";

/** A listening API server. */
export interface ServedApi {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

interface DenoServer {
  addr: { port: number };
  shutdown(): Promise<void>;
}
interface DenoLike {
  serve(options: { port: number; hostname: string; onListen?: () => void }, handler: (req: Request) => Response | Promise<Response>): DenoServer;
}

/**
 * Serves `app` on `port` (0: any free port): `Deno.serve(app.fetch)` under Deno,
 * `@hono/node-server` in Node. The one place that knows which runtime it is in.
 *
 * @example
 * const api = await serveApi(createApp(deps), 8787);
 * console.log(api.url);
 * await api.close();
 */
export async function serveApi(app: Hono, port: number, hostname = "127.0.0.1"): Promise<ServedApi> {
  const deno = (globalThis as { Deno?: DenoLike }).Deno;
  const shown = hostname === "0.0.0.0" ? "127.0.0.1" : hostname;
  if (deno) {
    const server = deno.serve({ port, hostname, onListen: () => undefined }, app.fetch);
    return { url: `http://${shown}:${server.addr.port}`, port: server.addr.port, close: () => server.shutdown() };
  }
  const { serve } = await import("@hono/node-server");
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port, hostname }, (info) => {
      resolve({
        url: `http://${shown}:${info.port}`,
        port: info.port,
        close: () => new Promise<void>((done) => {
          server.close(() => done());
          (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        }),
      });
    });
    server.once("error", reject);
  });
}
