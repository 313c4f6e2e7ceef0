import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace";
import { describe, expect, it } from "vitest";
import { createTelemetry } from "../src/index.js";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID = "00f067aa0ba902b7";
const traceparent = `00-${TRACE_ID}-${PARENT_ID}-01`;

// Nothing listens on port 9: these tests look at the spans, not at their export.
const telemetry = await createTelemetry({
  driver: "test",
  scrub: (text) => text.replaceAll("hunter2", "REDACTED"),
  env: {
    OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9",
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
  },
  warn: () => {},
});

const current = () => trace.getSpan(context.active()) as unknown as ReadableSpan;
const metadata = (name: string) => (name === "traceparent" ? traceparent : undefined);

describe("createTelemetry", () => {
  it("continues the caller's trace from its traceparent and puts its ids in log fields", () => {
    let span: ReadableSpan | undefined;
    let fields: Record<string, string> = {};
    telemetry.withCaller(metadata, () => {
      const call = telemetry.call("test", "Load");
      call.run(() => {
        span = current();
        fields = telemetry.logFields();
      });
      call.end({ key: "k", target: "t", bytes: 5, files: 1 });
    });
    expect(span?.spanContext().traceId).toBe(TRACE_ID);
    expect(span?.parentSpanContext?.spanId).toBe(PARENT_ID);
    expect(span?.kind).toBe(SpanKind.SERVER);
    expect(span?.name).toBe("artifact.ArtifactService/Load");
    expect(fields).toEqual({ trace_id: TRACE_ID, span_id: span?.spanContext().spanId });
    expect(span?.attributes).toMatchObject({
      "artifact_driver.driver": "test",
      "artifact_driver.operation": "Load",
      "artifact_driver.key": "k",
      "artifact_driver.target": "t",
      "artifact_driver.bytes": 5,
      "artifact_driver.files": 1,
      "artifact_driver.outcome": "ok",
    });
  });

  it("starts a new trace when the caller sent none", () => {
    let span: ReadableSpan | undefined;
    telemetry.withCaller(
      () => undefined,
      () => {
        const call = telemetry.call("test", "Save");
        call.run(() => {
          span = current();
        });
        call.end({ key: "k", target: "t" });
      },
    );
    expect(span?.spanContext().traceId).not.toBe(TRACE_ID);
    expect(span?.parentSpanContext).toBeUndefined();
  });

  it("records failures with their code and scrubs secrets from attributes and messages", () => {
    let span: ReadableSpan | undefined;
    const call = telemetry.call("test", "Load");
    call.run(() => {
      span = current();
    });
    call.end({ key: "a/hunter2", target: "t", code: "not-found", error: "bad hunter2" });
    expect(span?.attributes["artifact_driver.key"]).toBe("a/REDACTED");
    expect(span?.attributes["artifact_driver.error_code"]).toBe("not-found");
    expect(span?.attributes["artifact_driver.outcome"]).toBe("error");
    expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: "bad REDACTED" });
  });

  it("hangs phase spans and retry events below the call", () => {
    let call: ReadableSpan | undefined;
    let phase: ReadableSpan | undefined;
    const scope = telemetry.call("test", "ListObjects");
    scope.run(() => {
      call = current();
      const walk = telemetry.span("walk", { "artifact_driver.key": "x/hunter2" });
      walk.run(() => {
        phase = current();
        telemetry.retry(2, "transient", 1000);
      });
      walk.end(Object.assign(new Error("listing failed"), { code: "transient" }));
    });
    scope.end({ key: "x", target: "t" });
    expect(phase?.parentSpanContext?.spanId).toBe(call?.spanContext().spanId);
    expect(phase?.attributes["artifact_driver.key"]).toBe("x/REDACTED");
    expect(phase?.events.map((event) => [event.name, event.attributes])).toEqual([
      [
        "retry",
        {
          "artifact_driver.attempt": 2,
          "artifact_driver.error_code": "transient",
          "artifact_driver.delay_ms": 1000,
        },
      ],
    ]);
    expect(phase?.status.code).toBe(SpanStatusCode.ERROR);
  });

  it("refuses a protocol it cannot export with, naming the variable", async () => {
    await expect(
      createTelemetry({
        driver: "test",
        scrub: (text) => text,
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: "http://x", OTEL_EXPORTER_OTLP_PROTOCOL: "udp" },
        warn: () => {},
      }),
    ).rejects.toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL=udp is not supported/);
  });
});
