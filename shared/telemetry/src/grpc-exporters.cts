// The OTLP/gRPC exporters through their CommonJS builds. Their ES module
// builds load @grpc/grpc-js with a require() made by createRequire at run
// time, which esbuild leaves alone, so in a bundled image (no node_modules)
// every export failed with "Cannot find module '@grpc/grpc-js'"; these
// builds call require("@grpc/grpc-js") directly, which esbuild bundles.
import traceExporter = require("@opentelemetry/exporter-trace-otlp-grpc");
import metricExporter = require("@opentelemetry/exporter-metrics-otlp-grpc");

export = {
  OTLPTraceExporter: traceExporter.OTLPTraceExporter,
  OTLPMetricExporter: metricExporter.OTLPMetricExporter,
};
