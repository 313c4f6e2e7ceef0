import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type { ClientRequest, IncomingMessage } from "node:http";
import { context, type Span, SpanKind, SpanStatusCode, type Tracer } from "@opentelemetry/api";
import { isTracingSuppressed } from "@opentelemetry/core";

/**
 * Client spans for the drivers' backend requests. The SDKs send them with
 * node:http(s) (AWS, Azure) or with fetch, that is undici (Google, WebDAV).
 * Both publish on diagnostics channels, which work where OpenTelemetry's
 * require-hook instrumentations do not: in ES modules and in the bundled
 * images. undici is traced by the official instrumentation (it subscribes to
 * those channels); node:http by the subscriber below, since the official
 * one patches the module through require hooks. Query strings are never
 * recorded: presigned URLs and SAS tokens carry credentials there.
 */
export async function traceHttpClients(
  tracer: Tracer,
  scrub: (text: string) => string,
): Promise<() => Promise<void>> {
  const spans = new WeakMap<ClientRequest, Span>();

  const onStart = (message: unknown) => {
    if (isTracingSuppressed(context.active())) return; // the exporters' own requests
    const { request } = message as { request: ClientRequest };
    const secure = (request as unknown as { protocol?: string }).protocol === "https:";
    const host = request.host;
    const path = scrub(request.path.split("?")[0] ?? "");
    const span = tracer.startSpan(request.method, {
      kind: SpanKind.CLIENT,
      attributes: {
        "http.request.method": request.method,
        "server.address": host,
        "url.full": `${secure ? "https" : "http"}://${host}${path}`,
      },
    });
    spans.set(request, span);
    // Without an answer (aborted, socket closed) the span ends with the request.
    request.once("close", () => {
      if (!spans.has(request)) return;
      spans.delete(request);
      span.setStatus({ code: SpanStatusCode.ERROR, message: "closed without a response" });
      span.end();
    });
  };

  const onResponse = (message: unknown) => {
    const { request, response } = message as { request: ClientRequest; response: IncomingMessage };
    const span = spans.get(request);
    if (!span) return;
    spans.delete(request);
    const status = response.statusCode ?? 0;
    span.setAttribute("http.response.status_code", status);
    if (status >= 400) span.setStatus({ code: SpanStatusCode.ERROR });
    // The span lasts until the body has been read (or dropped): a download is timed whole.
    response.once("close", () => span.end());
  };

  const onError = (message: unknown) => {
    const { request, error } = message as { request: ClientRequest; error: Error };
    const span = spans.get(request);
    if (!span) return;
    spans.delete(request);
    span.setAttribute("error.type", (error as { code?: string }).code ?? error.name);
    span.setStatus({ code: SpanStatusCode.ERROR, message: scrub(error.message) });
    span.end();
  };

  subscribe("http.client.request.start", onStart);
  subscribe("http.client.response.finish", onResponse);
  subscribe("http.client.request.error", onError);

  const { UndiciInstrumentation } = await import("@opentelemetry/instrumentation-undici");
  // Enabled by its constructor, with the global tracer provider. Same rule
  // as above: the query may hold credentials.
  const undici = new UndiciInstrumentation({
    startSpanHook: (request) => ({
      "url.full": scrub(`${request.origin}${request.path.split("?")[0] ?? ""}`),
      "url.query": request.path.includes("?") ? "?REDACTED" : "",
    }),
  });

  return async () => {
    undici.disable();
    unsubscribe("http.client.request.start", onStart);
    unsubscribe("http.client.response.finish", onResponse);
    unsubscribe("http.client.request.error", onError);
  };
}
