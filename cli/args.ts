import { parseArgs, type ParseArgsConfig } from "node:util";

/** A command line the user has to correct; the message says how. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export function parse<T extends NonNullable<ParseArgsConfig["options"]>>(argv: string[], options: T, usage: string) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\nusage: ${usage}`);
  }
}

export function positiveNumber(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${flag} ${JSON.stringify(value)} is not a number ≥ 0; e.g. ${flag} ${fallback}`);
  return n;
}
