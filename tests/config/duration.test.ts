import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseDurationMs, parseSinceMs } from "../../config/duration.ts";
import { since as apiSince, RequestError } from "../../api/validate.ts";
import { parseSince as cliSince } from "../../cli/dlq.ts";
import { UsageError } from "../../cli/args.ts";
import { durationMs as expectationDuration } from "../../quality/expectations.ts";

const NOW = Date.parse("2026-11-27T10:00:00Z");

test("parseDurationMs: a number and one unit (ms, s, m, h, d); nothing else", () => {
  assert.is(parseDurationMs("500ms"), 500);
  assert.is(parseDurationMs("90s"), 90_000);
  assert.is(parseDurationMs("15m"), 900_000);
  assert.is(parseDurationMs(" 1.5h "), 5_400_000);
  assert.is(parseDurationMs("7d"), 604_800_000);
  for (const no of ["", "15", "15 m", "m", "-5m", "1e3s", "2w", "1h30m", "36501d"]) assert.is(parseDurationMs(no), undefined, JSON.stringify(no));
});

test("parseSinceMs: a duration back from now, epoch ms, or an RFC 3339 time; not whatever Date.parse guesses", () => {
  assert.is(parseSinceMs("2h", NOW), NOW - 7_200_000);
  assert.is(parseSinceMs("1764237600000", NOW), 1_764_237_600_000);
  assert.is(parseSinceMs("2026-11-27T09:00:00Z", NOW), NOW - 3_600_000);
  assert.is(parseSinceMs("2026-11-27", NOW), Date.parse("2026-11-27"));
  // Date.parse reads these as times in 2001; a person meant something else.
  for (const no of ["Nov 27", "yesterday", "1 hour ago"]) assert.is(parseSinceMs(no, NOW), undefined, no);
});

test("the CLI's --since, the API's since and expectation durations read the same text the same way", () => {
  for (const text of ["500ms", "90s", "1.5h", "7d"]) {
    const back = NOW - parseDurationMs(text)!;
    assert.is(cliSince(text, NOW), back, `--since ${text}`);
    assert.is(apiSince(text, NOW, 0), back, `since=${text}`);
    assert.is(expectationDuration(text), NOW - back, `expectation ${text}`);
  }
  const dayBefore = String(NOW - 86_400_000);
  assert.is(cliSince(dayBefore, NOW), apiSince(dayBefore, NOW, 0));
  // The API bounds how far back one request may scan; the CLI does not.
  const yearBefore = String(NOW - 365 * 86_400_000);
  assert.is(cliSince(yearBefore, NOW), NOW - 365 * 86_400_000);
  assert.throws(() => apiSince(yearBefore, NOW, 0), (e: unknown) => e instanceof RequestError && e.field === "since");
  assert.throws(() => cliSince("Nov 27", NOW), (e: unknown) => e instanceof UsageError && /--since "Nov 27": expected a duration/.test((e as Error).message));
  assert.throws(() => apiSince("Nov 27", NOW, 0), (e: unknown) => e instanceof RequestError && e.field === "since");
});

test.run();
