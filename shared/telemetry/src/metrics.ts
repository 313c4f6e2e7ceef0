import type { Attributes, Counter, Histogram, Meter, UpDownCounter } from "@opentelemetry/api";

/** The RPCs whose data flows in a stream of frames rather than through a local path. */
const STREAMS = new Set(["OpenStream", "SaveStream"]);

/**
 * The plugin's metrics, per driver and operation: calls and streams in
 * flight, call durations by outcome, bytes transferred, errors by code and
 * retries by code. Names follow OpenTelemetry's conventions (dots, units).
 */
export class CallMetrics {
  private readonly active: UpDownCounter;
  private readonly streams: UpDownCounter;
  private readonly duration: Histogram;
  private readonly bytes: Counter;
  private readonly errors: Counter;
  private readonly retries: Counter;

  constructor(meter: Meter) {
    this.active = meter.createUpDownCounter("artifact_driver.calls.active", {
      description: "RPCs in flight",
      unit: "{call}",
    });
    this.streams = meter.createUpDownCounter("artifact_driver.streams.active", {
      description: "OpenStream and SaveStream RPCs in flight",
      unit: "{stream}",
    });
    this.duration = meter.createHistogram("artifact_driver.call.duration", {
      description: "Duration of RPCs, from arrival to answer",
      unit: "s",
      advice: { explicitBucketBoundaries: [0.005, 0.025, 0.1, 0.5, 1, 2.5, 10, 30, 120, 600] },
    });
    this.bytes = meter.createCounter("artifact_driver.transferred", {
      description: "Artifact bytes moved between Argo and the backend",
      unit: "By",
    });
    this.errors = meter.createCounter("artifact_driver.errors", {
      description: "Failed RPCs by error code",
      unit: "{error}",
    });
    this.retries = meter.createCounter("artifact_driver.retries", {
      description: "Retries of transient backend failures, by error code",
      unit: "{retry}",
    });
  }

  /** Counts a call in; the returned function counts it out with its outcome. */
  begin(driver: string, operation: string): (outcome: { bytes?: number; code?: string }) => void {
    const started = performance.now();
    const attributes: Attributes = {
      "artifact_driver.driver": driver,
      "artifact_driver.operation": operation,
    };
    const stream = STREAMS.has(operation);
    this.active.add(1, attributes);
    if (stream) this.streams.add(1, attributes);
    return ({ bytes, code }) => {
      this.active.add(-1, attributes);
      if (stream) this.streams.add(-1, attributes);
      this.duration.record((performance.now() - started) / 1000, {
        ...attributes,
        "artifact_driver.outcome": code === undefined ? "ok" : "error",
        ...(code === undefined ? {} : { "artifact_driver.error_code": code }),
      });
      if (bytes) this.bytes.add(bytes, attributes);
      if (code !== undefined) {
        this.errors.add(1, { ...attributes, "artifact_driver.error_code": code });
      }
    };
  }

  retried(driver: string | undefined, operation: string | undefined, code: string): void {
    this.retries.add(1, {
      ...(driver === undefined ? {} : { "artifact_driver.driver": driver }),
      ...(operation === undefined ? {} : { "artifact_driver.operation": operation }),
      "artifact_driver.error_code": code,
    });
  }
}
