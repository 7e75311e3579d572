// Logging is observability (otel/log.ts), shared with the API and the CLI; actors keep this path.
export { createLogger } from "../../otel/log.ts";
