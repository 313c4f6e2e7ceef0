import { pino } from "pino";
import { scrub } from "./redaction.js";
import { telemetry } from "./telemetry.js";

export type Logger = pino.Logger;

/**
 * Structured JSON lines on stderr (stdout stays free for tools), level from
 * LOG_LEVEL. Synchronous writes: a plugin logs one line per call, and a line
 * must not be lost when the process exits on SIGTERM. Every line is scrubbed
 * of secret values on its way out, whoever logged what.
 */
export function createLogger(): Logger {
  return pino(
    {
      level: process.env.LOG_LEVEL ?? "info",
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      hooks: { streamWrite: scrub },
      // trace_id and span_id join a line to its trace (none while telemetry is off).
      mixin: () => telemetry().logFields(),
    },
    pino.destination({ fd: 2, sync: true }),
  );
}
