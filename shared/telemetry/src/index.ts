import {
  type Attributes,
  context,
  createContextKey,
  DiagLogLevel,
  diag,
  isSpanContextValid,
  type Meter,
  metrics,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { BatchSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { traceHttpClients } from "./http.js";
import { CallMetrics } from "./metrics.js";

export interface TelemetryOptions {
  /** The driver's name: the default service.name is `argo-artifact-driver-<driver>`. */
  driver: string;
  /** Removes secret values from text (the core's scrubber): applied to every string attribute. */
  scrub: (text: string) => string;
  env: NodeJS.ProcessEnv;
  warn: (message: string, error?: unknown) => void;
}

/** Mirrors the core's Telemetry interface (the core checks the fit where it imports this). */
export interface SpanScope {
  run<T>(work: () => T): T;
  end(error?: unknown): void;
}

export interface CallOutcome {
  key: string;
  target: string;
  bytes?: number;
  files?: number;
  code?: string;
  error?: string;
}

export interface CallTelemetry {
  run<T>(work: () => T): T;
  end(outcome: CallOutcome): void;
}

export interface Telemetry {
  readonly enabled: true;
  withCaller<T>(header: (name: string) => string | undefined, work: () => T): T;
  call(driver: string, operation: string): CallTelemetry;
  span(name: string, attributes: Attributes): SpanScope;
  retry(attempt: number, code: string, delayMs: number): void;
  logFields(): Record<string, string>;
  shutdown(): Promise<void>;
}

export type Protocol = "grpc" | "http/protobuf";

/** The call a context belongs to, so retries count under its driver and operation. */
const CALL = createContextKey("artifact-driver call");
const SCOPE = "@argo-artifact-drivers/core";

/** Argo's plugin client reaches the plugin as `/artifact.ArtifactService/<Method>`. */
const RPC_SERVICE = "artifact.ArtifactService";

/**
 * Starts the trace and metric pipelines the environment asks for: traces
 * when OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is
 * set, metrics when OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is; OTLP over gRPC unless
 * OTEL_EXPORTER_OTLP_PROTOCOL (or the per-signal variable) says
 * `http/protobuf`. The exporters read the other OTEL_EXPORTER_OTLP_*
 * variables (headers, certificates, timeouts) themselves.
 */
export async function createTelemetry(options: TelemetryOptions): Promise<Telemetry> {
  const { env, scrub } = options;
  const tracesEndpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const metricsEndpoint =
    env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;

  // The SDK's own troubles (an export the collector refused or never got)
  // reach the plugin's log instead of vanishing.
  diag.setLogger(
    {
      error: (message, ...args) => options.warn(`OpenTelemetry: ${message}`, args[0]),
      warn: (message, ...args) => options.warn(`OpenTelemetry: ${message}`, args[0]),
      info: () => {},
      debug: () => {},
      verbose: () => {},
    },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
  const detected = detectResources({ detectors: [envDetector] });
  const resource = resourceFromAttributes({
    "service.name": `argo-artifact-driver-${options.driver}`,
    "artifact_driver.driver": options.driver,
  }).merge(detected);

  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());

  let tracerProvider: TracerProvider | undefined;
  if (tracesEndpoint) {
    const protocol = protocolOf(env, "TRACES");
    const exporter =
      protocol === "grpc"
        ? new (await import("./grpc-exporters.cjs")).default.OTLPTraceExporter()
        : new (await import("@opentelemetry/exporter-trace-otlp-proto")).OTLPTraceExporter();
    tracerProvider = new TracerProvider({
      resource,
      // The SDK no longer reads OTEL_BSP_* itself.
      spanProcessors: [
        new BatchSpanProcessor({
          exporter,
          scheduledDelayMillis: positive(env.OTEL_BSP_SCHEDULE_DELAY) ?? 5000,
          exportTimeoutMillis: positive(env.OTEL_BSP_EXPORT_TIMEOUT) ?? 30_000,
        }),
      ],
    });
    trace.setGlobalTracerProvider(tracerProvider);
  }

  let meterProvider: MeterProvider | undefined;
  if (metricsEndpoint) {
    const protocol = protocolOf(env, "METRICS");
    const exporter =
      protocol === "grpc"
        ? new (await import("./grpc-exporters.cjs")).default.OTLPMetricExporter()
        : new (await import("@opentelemetry/exporter-metrics-otlp-proto")).OTLPMetricExporter();
    const exportIntervalMillis = positive(env.OTEL_METRIC_EXPORT_INTERVAL) ?? 60_000;
    meterProvider = new MeterProvider({
      resource,
      readers: [
        new PeriodicExportingMetricReader({
          exporter,
          exportIntervalMillis,
          exportTimeoutMillis: Math.min(
            positive(env.OTEL_METRIC_EXPORT_TIMEOUT) ?? 30_000,
            exportIntervalMillis,
          ),
        }),
      ],
    });
    metrics.setGlobalMeterProvider(meterProvider);
  }

  // Without a traces endpoint the API's tracer makes non-recording spans
  // that still carry the caller's context to the log lines.
  const tracer = trace.getTracer(SCOPE);
  const meter = metrics.getMeter(SCOPE);
  const stopHttp = tracerProvider ? await traceHttpClients(tracer, scrub) : async () => {};
  return new OpenTelemetry(tracer, meter, scrub, async () => {
    await stopHttp();
    await Promise.allSettled([tracerProvider?.shutdown(), meterProvider?.shutdown()]);
  });
}

class OpenTelemetry implements Telemetry {
  readonly enabled = true;
  private readonly metrics: CallMetrics;

  constructor(
    private readonly tracer: Tracer,
    meter: Meter,
    private readonly scrub: (text: string) => string,
    private readonly stop: () => Promise<void>,
  ) {
    this.metrics = new CallMetrics(meter);
  }

  withCaller<T>(header: (name: string) => string | undefined, work: () => T): T {
    const caller = propagation.extract(ROOT_CONTEXT, header, {
      get: (lookup, name) => lookup(name),
      keys: () => [],
    });
    return context.with(caller, work);
  }

  call(driver: string, operation: string): CallTelemetry {
    const parent = context.active();
    const span = this.tracer.startSpan(
      `${RPC_SERVICE}/${operation}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          "rpc.system": "grpc",
          "rpc.service": RPC_SERVICE,
          "rpc.method": operation,
          "artifact_driver.driver": driver,
          "artifact_driver.operation": operation,
        },
      },
      parent,
    );
    const inCall = trace.setSpan(parent, span).setValue(CALL, { driver, operation });
    const done = this.metrics.begin(driver, operation);
    let ended = false;
    return {
      run: (work) => context.with(inCall, work),
      end: (outcome) => {
        if (ended) return;
        ended = true;
        span.setAttributes({
          "artifact_driver.key": this.scrub(outcome.key),
          "artifact_driver.target": this.scrub(outcome.target),
          "artifact_driver.outcome": outcome.code === undefined ? "ok" : "error",
          ...(outcome.bytes === undefined ? {} : { "artifact_driver.bytes": outcome.bytes }),
          ...(outcome.files === undefined ? {} : { "artifact_driver.files": outcome.files }),
          ...(outcome.code === undefined ? {} : { "artifact_driver.error_code": outcome.code }),
        });
        if (outcome.code !== undefined) {
          span.setStatus({
            code: SpanStatusCode.ERROR,
            message: this.scrub(outcome.error ?? outcome.code),
          });
        }
        span.end();
        done(outcome);
      },
    };
  }

  span(name: string, attributes: Attributes): SpanScope {
    const parent = context.active();
    const span = this.tracer.startSpan(name, { attributes: this.clean(attributes) }, parent);
    const inside = trace.setSpan(parent, span);
    return {
      run: (work) => context.with(inside, work),
      end: (error) => {
        if (error !== undefined) {
          const code = (error as { code?: unknown }).code;
          span.setStatus({
            code: SpanStatusCode.ERROR,
            message: this.scrub(error instanceof Error ? error.message : String(error)),
          });
          if (typeof code === "string") span.setAttribute("artifact_driver.error_code", code);
        }
        span.end();
      },
    };
  }

  retry(attempt: number, code: string, delayMs: number): void {
    const active = context.active();
    trace.getSpan(active)?.addEvent("retry", {
      "artifact_driver.attempt": attempt,
      "artifact_driver.error_code": code,
      "artifact_driver.delay_ms": delayMs,
    });
    const call = active.getValue(CALL) as { driver: string; operation: string } | undefined;
    this.metrics.retried(call?.driver, call?.operation, code);
  }

  logFields(): Record<string, string> {
    const spanContext = trace.getSpan(context.active())?.spanContext();
    // A new object each time: pino merges the line's fields into it.
    if (!spanContext || !isSpanContextValid(spanContext)) return {};
    return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
  }

  shutdown(): Promise<void> {
    return this.stop();
  }

  private clean(attributes: Attributes): Attributes {
    const clean: Attributes = {};
    for (const [name, value] of Object.entries(attributes)) {
      clean[name] = typeof value === "string" ? this.scrub(value) : value;
    }
    return clean;
  }
}

function protocolOf(env: NodeJS.ProcessEnv, signal: "TRACES" | "METRICS"): Protocol {
  const variable = env[`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`]
    ? `OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`
    : "OTEL_EXPORTER_OTLP_PROTOCOL";
  const value = (env[variable] || "grpc").trim();
  if (value === "grpc" || value === "http/protobuf") return value;
  throw new Error(
    `${variable}=${value} is not supported: set it to grpc (the default, as Argo uses) or http/protobuf`,
  );
}

function positive(text: string | undefined): number | undefined {
  const value = Number(text);
  return text && Number.isFinite(value) && value > 0 ? value : undefined;
}
