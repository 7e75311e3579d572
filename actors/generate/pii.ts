import { createHash } from "node:crypto";

/**
 * Personal data the generator adds that its seeded streams do not draw: derived from an entity's
 * id by a hash, so adding them left every other generated value (and the detection evaluations
 * scored on them) unchanged.
 */

/** Calling codes of the generator's countries; others dial as +1. */
const CALLING_CODES: Readonly<Record<string, string>> = {
  US: "1", CA: "1", MX: "52", BR: "55", GB: "44", IE: "353", FR: "33", DE: "49", ES: "34", IT: "39", NL: "31",
  SE: "46", PL: "48", CH: "41", IN: "91", JP: "81", KR: "82", SG: "65", AU: "61", ZA: "27",
};

function digest(id: string, purpose: string): Buffer {
  return createHash("sha256").update(`${purpose}\u0000${id}`).digest();
}

/** An E.164 mobile number in the customer's home country, e.g. "+4915112345678". */
export function phoneFor(customerId: string, country: string): string {
  const bytes = digest(customerId, "phone");
  const digits = Array.from(bytes.subarray(0, 9), (b) => String(b % 10)).join("");
  return `+${CALLING_CODES[country] ?? "1"}${1 + (bytes[9] % 9)}${digits}`;
}

/** A public-looking IPv4 address of the user's device (first octet 11-223: no private, loopback or multicast /8). */
export function deviceIpFor(userId: string): string {
  const [a, b, c, d] = digest(userId, "device_ip");
  return `${11 + (a % 213)}.${b}.${c}.${1 + (d % 254)}`;
}
