import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { waitFor } from "../harness/wait.ts";

const BIN = fileURLToPath(new URL("../../node_modules/s3rver/bin/s3rver.js", import.meta.url));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A real S3-compatible server (s3rver) for one test file, as its own process so a test can kill
 * it (an outage) and start it again on the same port and directory. Credentials S3RVER/S3RVER.
 */
export class S3rver {
  readonly dir = mkdtempSync(join(tmpdir(), "sluice-s3-"));
  readonly bucket: string;
  port = 0;
  private child?: ChildProcess;

  private constructor(bucket: string) {
    this.bucket = bucket;
  }

  static async start(bucket = "lake"): Promise<S3rver> {
    const s = new S3rver(bucket);
    s.port = await freePort();
    await s.launch();
    return s;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The variables a sluice process reads for this server. */
  env(prefix: string): Record<string, string> {
    return { SLUICE_LAKE_URL: `s3://${this.bucket}/${prefix}`, AWS_ENDPOINT_URL: this.endpoint, AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER" };
  }

  async launch(): Promise<void> {
    let log = "";
    const child = spawn(process.execPath, [BIN, "-d", this.dir, "-a", "127.0.0.1", "-p", String(this.port), "--configure-bucket", this.bucket, "--silent"], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.on("data", (d) => (log += d));
    child.stderr!.on("data", (d) => (log += d));
    this.child = child;
    const up = await waitFor(() => fetch(`${this.endpoint}/`).then((r) => r.status).catch(() => 0), (s) => s > 0, 15_000, 50);
    if (!up) throw new Error(`s3rver did not answer on ${this.endpoint}:\n${log}`);
  }

  /** SIGKILL: connections are refused until `launch()` again. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
