/** The logger every process writes through (actors, API, CLI); the runtime hands one to each actor. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;

/** One line per record on stderr: `time level message {fields}`. */
export function createLogger(level: keyof typeof LEVELS = "info", write: (line: string) => void = (l) => process.stderr.write(l + "\n")): Logger {
  const min = LEVELS[level];
  const at = (name: keyof typeof LEVELS) => (msg: string, fields?: Record<string, unknown>) => {
    if (LEVELS[name] < min) return;
    write(`${new Date().toISOString()} ${name.padEnd(5)} ${msg}${fields ? " " + JSON.stringify(fields) : ""}`);
  };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}
