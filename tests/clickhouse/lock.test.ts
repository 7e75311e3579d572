import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DataDirLockedError, EmbeddedEngineBusyError, LOCK_FILE, openClickHouse, type OpenClickHouse } from "../../clickhouse/index.ts";
import { captureLog } from "./scenarios.ts";

const root = mkdtempSync(join(tmpdir(), "sluice-lock-"));
const held = join(root, "held");
const own = join(root, "own");
const log = captureLog();
const children: ChildProcess[] = [];

function holdInChild(dataDir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", new URL("./hold-chdb.ts", import.meta.url).pathname, dataDir], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let output = "";
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (d) => {
      output += d;
      if (output.includes("ready")) resolve(child);
    });
    child.stderr!.on("data", (d) => (output += d));
    child.once("exit", (code) => reject(new Error(`the child holding ${dataDir} exited (${code}) before it was ready:\n${output}`)));
  });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once("exit", () => resolve()));
}

async function refusal(dataDir: string): Promise<DataDirLockedError> {
  const err = await openClickHouse({ dataDir, logger: log.logger }).catch((e: unknown) => e);
  assert.instance(err, DataDirLockedError);
  return err as DataDirLockedError;
}

test.after(async () => {
  for (const child of children) child.kill("SIGKILL");
  await Promise.all(children.map(exited));
  rmSync(root, { recursive: true, force: true });
});

test("a data directory another live process holds is refused, naming its pid and what to do", async () => {
  const child = await holdInChild(held);
  const err = await refusal(held);
  assert.is(err.pid, child.pid);
  assert.is(err.lockFile, join(held, LOCK_FILE));
  assert.match(err.message, new RegExp(`in use by process ${child.pid}`));
  assert.match(err.message, /stop that process/);
});

test("a second open in the same process is refused until the first closes", async () => {
  const first: OpenClickHouse = await openClickHouse({ dataDir: own, logger: log.logger });
  try {
    const err = await refusal(own);
    assert.is(err.pid, process.pid);
    assert.match(err.message, /this process/);
  } finally {
    await first.close();
  }
  assert.not.ok(existsSync(join(own, LOCK_FILE)), "close removes the lock");
});

test("a second data directory in one process is refused and leaves no lock behind", async () => {
  const first = await openClickHouse({ dataDir: own, logger: log.logger });
  const other = join(root, "other");
  try {
    const err = await openClickHouse({ dataDir: other, logger: log.logger }).catch((e: unknown) => e);
    assert.instance(err, EmbeddedEngineBusyError);
    assert.match((err as Error).message, /close the other handle/);
    assert.not.ok(existsSync(join(other, LOCK_FILE)));
  } finally {
    await first.close();
  }
});

test("the lock of a process that died is taken over", async () => {
  const child = children[0];
  child.kill("SIGKILL");
  await exited(child);
  assert.is(readFileSync(join(held, LOCK_FILE), "utf8").trim(), String(child.pid), "a killed holder leaves its lock behind");
  // The same process has closed `own` above (close drains chDB), so opening another path is allowed.
  const ch = await openClickHouse({ dataDir: held, logger: log.logger });
  try {
    assert.is(readFileSync(join(held, LOCK_FILE), "utf8").trim(), String(process.pid));
    assert.equal((await (await ch.client.query({ query: "SELECT 1 AS one", format: "JSONEachRow" })).json()), [{ one: 1 }]);
  } finally {
    await ch.close();
  }
});

test("a lock file with garbage in it counts as stale", async () => {
  writeFileSync(join(held, LOCK_FILE), "not a pid\n");
  const ch = await openClickHouse({ dataDir: held, logger: log.logger });
  await ch.close();
  assert.not.ok(existsSync(join(held, LOCK_FILE)));
});

test.run();
