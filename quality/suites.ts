import iot from "../subjects/schemas/iot.expectations.json" with { type: "json" };
import social from "../subjects/schemas/social.expectations.json" with { type: "json" };
import txn from "../subjects/schemas/txn.expectations.json" with { type: "json" };
import type { Source } from "../subjects/sources.ts";
import { parseSuite, type Suite } from "./expectations.ts";

/** Each source's expectations, read from `subjects/schemas/<source>.expectations.json` next to its schema. */
export function loadSuites(): Readonly<Record<Source, Suite>> {
  return Object.freeze({ iot: parseSuite("iot", iot), social: parseSuite("social", social), txn: parseSuite("txn", txn) });
}
