import { context, propagation, trace, type Tracer } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator, ExportResultCode, type ExportResult } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter, type SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";

export interface TelemetryOptions {
  /** OTLP/HTTP base endpoint (e.g. http://localhost:4318); without it spans get ids but are not exported. */
  endpoint?: string;
  /** Prefix of every service name: an actor traces as `<prefix>-<actor>`. */
  servicePrefix?: string;
  /** Extra processors, e.g. an in-memory exporter in tests. */
  processors?: SpanProcessor[];
  log?: (line: string) => void;
}

/** The process's telemetry: one tracer provider per service name, sharing one exporter. */
export interface Telemetry {
  tracerFor(service: string): Tracer;
  shutdown(): Promise<void>;
}

/**
 * An exporter that reports the first failure once and then stays quiet: with no collector
 * running, tracing must cost nothing but that one line.
 */
class QuietExporter implements SpanExporter {
  private warned = false;
  private readonly inner: SpanExporter;
  private readonly log: (line: string) => void;
  private readonly endpoint: string;
  constructor(inner: SpanExporter, endpoint: string, log: (line: string) => void) {
    this.inner = inner;
    this.endpoint = endpoint;
    this.log = log;
  }
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code !== ExportResultCode.SUCCESS && !this.warned) {
        this.warned = true;
        this.log(`otel: cannot export spans to ${this.endpoint} (${result.error?.message ?? "unknown error"}); is Jaeger/a collector running? Further failures are not logged.`);
      }
      done(result);
    });
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

let started: Telemetry | undefined;

/** Links kept per span; the SDK's default of 128 would cut a batch span's links to its messages. */
const MAX_LINKS = 10_000;

/**
 * Starts OpenTelemetry once per process, at the entrypoint. Library code only uses
 * `@opentelemetry/api`; this is the one place that knows about the SDK.
 *
 * @example
 * const telemetry = startTelemetry({ endpoint: config.otlpEndpoint });
 * const tracer = telemetry.tracerFor("validate");
 */
export function startTelemetry(opts: TelemetryOptions = {}): Telemetry {
  if (started) return started;
  const log = opts.log ?? ((line: string) => console.error(line));
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());

  const processors: SpanProcessor[] = [...(opts.processors ?? [])];
  if (opts.endpoint) {
    const url = `${opts.endpoint.replace(/\/$/, "")}/v1/traces`;
    const exporter = new QuietExporter(new OTLPTraceExporter({ url }), url, log);
    processors.push(new BatchSpanProcessor(exporter, { maxQueueSize: 8192, scheduledDelayMillis: 1000 }));
  }
  const prefix = opts.servicePrefix ?? "sluice";
  const providers = new Map<string, BasicTracerProvider>();

  const providerFor = (service: string): BasicTracerProvider => {
    let provider = providers.get(service);
    if (!provider) {
      provider = new BasicTracerProvider({
        resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: `${prefix}-${service}`, [ATTR_SERVICE_VERSION]: "0.1.0" }),
        spanProcessors: processors,
        // A batch span links to the trace of each of its messages (a sink's batch is 5,000 by default).
        spanLimits: { linkCountLimit: MAX_LINKS },
      });
      providers.set(service, provider);
    }
    return provider;
  };
  trace.setGlobalTracerProvider(providerFor("cli"));

  started = {
    tracerFor: (service) => providerFor(service).getTracer("sluice"),
    async shutdown() {
      await Promise.all([...providers.values()].map((p) => p.forceFlush()));
      await Promise.all(processors.map((p) => p.shutdown()));
      started = undefined;
    },
  };
  return started;
}
