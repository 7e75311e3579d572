export { startTelemetry, type Telemetry, type TelemetryOptions } from "./sdk.ts";
export { activeTraceId, extractContext, injectContext, natsHeaderGetter, natsHeaderSetter } from "./propagation.ts";
