import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

// The chaos test's faulted set-up once failed with nothing printed and exit code 0: uvu drops a
// before hook's error. These run a suite whose before hook throws, with and without the guard.
const fixture = fileURLToPath(new URL("./fixtures/before-throws.ts", import.meta.url));
const test = suite("surfaceHookErrors: a before hook's error is printed and fails the file");

function runFixture(guard: "on" | "off") {
  const r = spawnSync(process.execPath, ["--import", "tsx", fixture], { env: { ...process.env, HOOK_GUARD: guard, FORCE_COLOR: "0" }, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}

test("without the guard uvu exits 0 and prints no error (why the guard exists)", () => {
  const { code, out } = runFixture("off");
  assert.is(code, 0, out);
  assert.not.match(out, /port 4222/);
});

test("with the guard: the error, its cause and each test's failure are printed, exit code 1", () => {
  const { code, out } = runFixture("on");
  assert.is(code, 1, out);
  assert.match(out, /before hook failed:\nError: set-up refused: port 4222 in use/);
  assert.match(out, /caused by: Error: EADDRINUSE/);
  assert.match(out, /Total:\s+2\s+Passed:\s+0/);
  assert.is(out.match(/not run: the before hook of "before-throws" threw/g)?.length, 2, out);
});

test.run();
