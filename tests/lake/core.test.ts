// The lake's pure parts: where files end, what they are named, how a lake URL reads, what a
// replay publishes for each kind of identity, and the replay's progress line.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { progressLine } from "../../cli/lake.ts";
import { addRow, fileKey, filesInRange, parseFileKey, parseLakeUrl, republishOf, type LakeFile, type LakeRow, type OpenFile } from "../../lake/index.ts";
import { HEADERS } from "../../subjects/catalog.ts";
import { sequenceEventId } from "../../subjects/identity.ts";

const test = suite("lake core: cuts, names, urls, replay messages");
const H = Date.UTC(2026, 10, 30, 8);
const enc = new TextEncoder();
const row = (seq: number, ts: number, data = `{"n":${seq}}`, headers: Record<string, string> = {}): LakeRow => ({ stream: "RAW", seq, subject: "raw.iot.s-1.a", timestampMs: ts, headers, data: enc.encode(data) });

function cut(rows: LakeRow[], maxRows: number, maxBytes = 1 << 30): number[][] {
  let open: OpenFile | undefined;
  const files: number[][] = [];
  for (const r of rows) {
    const c = addRow(open, r, { maxRows, maxBytes });
    open = c.open;
    files.push(...c.complete.map((f) => f.rows.map((x) => x.seq)));
  }
  return files;
}

test("a file ends at the hour's end or when full, whatever the batches", () => {
  const rows = [row(1, H), row(2, H + 1), row(3, H + 2), row(5, H + 3_600_000), row(6, H + 3_600_001)];
  assert.equal(cut(rows, 2), [[1, 2], [3], [5, 6]]);
  assert.equal(cut(rows, 10), [[1, 2, 3]], "the last hour stays open until a message of a later hour or a full file");
  // Each row counts 44 bytes (7 of data, 13 of subject, 24 of overhead): the row that reaches the limit closes the file.
  assert.equal(cut(rows, 10, 80), [[1, 2], [3], [5, 6]]);
});

test("file keys: Hive partitions and the sequence range, parsed back", () => {
  const f: LakeFile = { dataset: "raw", source: "iot", hourMs: H, firstSeq: 101, lastSeq: 350 };
  assert.is(fileKey(f), "raw/source=iot/date=2026-11-30/hour=08/raw-0000000000000101-0000000000000350.parquet");
  assert.equal(parseFileKey(fileKey(f)), f);
  assert.is(parseFileKey(`${fileKey(f)}.tmp-abc`), undefined, "temp files are no lake files");
  assert.equal(filesInRange([f, { ...f, source: "txn" }, { ...f, hourMs: H + 7_200_000, firstSeq: 400 }], { source: "iot", fromMs: H + 60_000, toMs: H + 3_600_000 }), [f]);
});

test("lake urls", () => {
  assert.equal(parseLakeUrl("lake", {}, "/srv/x"), { kind: "dir", root: "/srv/x/lake", url: "/srv/x/lake" });
  assert.is(parseLakeUrl("file:///data/lake").kind, "dir");
  const s3 = parseLakeUrl("s3://my-lake/prod/raw/", { endpoint: "http://127.0.0.1:9000/", accessKeyId: "k", secretAccessKey: "s" });
  assert.equal(s3, { kind: "s3", bucket: "my-lake", prefix: "prod/raw", base: "http://127.0.0.1:9000/my-lake", accessKeyId: "k", secretAccessKey: "s", region: "us-east-1", url: "s3://my-lake/prod/raw" });
  assert.is((parseLakeUrl("s3://b-1", { region: "eu-west-1" }) as { base: string }).base, "https://b-1.s3.eu-west-1.amazonaws.com");
  assert.throws(() => parseLakeUrl("s3://A_bad"), /bucket name/);
  assert.throws(() => parseLakeUrl("http://x/y"), /expected a directory, file:\/\/\/path or s3:\/\/bucket\/prefix/);
});

test("a replayed message carries its first delivery's event id and the original bytes", () => {
  const withHeader = republishOf(row(7, H, "{}", { [HEADERS.msgId]: "p-1", "X-App": "a", "Nats-Expected-Stream": "RAW" }), {});
  assert.equal(withHeader, { subject: "raw.iot.s-1.a", data: enc.encode("{}"), msgId: "p-1", headers: { "X-App": "a", [HEADERS.replayCount]: "1" } });
  assert.is(republishOf(row(7, H, "{}", { [HEADERS.replayCount]: "2" }), {}).headers[HEADERS.replayCount], "3");
  assert.is(republishOf(row(8, H, `{"event_id":"e-8"}`), {}).msgId, "e-8");
  assert.is(republishOf(row(9, H, "not json"), {}).msgId, sequenceEventId("RAW", 9));
  assert.is(republishOf(row(9, H), { toSubject: "raw.iot-backfill" }).subject, "raw.iot-backfill.s-1.a", "key tokens kept");
});

test("progress line", () => {
  assert.is(progressLine({ done: 50, total: 200, duplicates: 0, startedAt: 0 }, 10_000), "[########......................] 50/200 25% 5 msg/s ETA 30s");
  assert.is(progressLine({ done: 0, total: 0, duplicates: 0, startedAt: 0 }, 0), "[##############################] 0/0 100% 0 msg/s ETA ?");
});

test.run();
