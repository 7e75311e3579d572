/**
 * ClickHouse errors that mean "the server is busy or away", not "these rows are wrong".
 * Codes: 159 TIMEOUT_EXCEEDED, 164 READONLY, 202 TOO_MANY_SIMULTANEOUS_QUERIES, 209 SOCKET_TIMEOUT,
 * 210 NETWORK_ERROR, 241 MEMORY_LIMIT_EXCEEDED, 242 TABLE_IS_READ_ONLY, 252 TOO_MANY_PARTS,
 * 60 UNKNOWN_TABLE and 81 UNKNOWN_DATABASE (a migration not yet run), 516 AUTHENTICATION_FAILED
 * and 497 ACCESS_DENIED (an operator fixes them; the data must wait, not be dead-lettered).
 */
const TRANSIENT_CODES = new Set([159, 164, 202, 209, 210, 241, 242, 252, 60, 81, 516, 497]);

/** True when an insert failed because of the rows themselves, so retrying cannot help. */
export function isDataError(err: unknown): boolean {
  if (!(err instanceof Error) || err.name !== "ClickHouseQueryError") return false;
  const code = Number((err as Error & { code?: string | number }).code);
  return Number.isInteger(code) && !TRANSIENT_CODES.has(code);
}
