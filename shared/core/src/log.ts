import { pino } from "pino";

export type Logger = pino.Logger;

/**
 * Structured JSON lines on stderr (stdout stays free for tools), level from
 * LOG_LEVEL. Synchronous writes: a plugin logs one line per call, and a line
 * must not be lost when the process exits on SIGTERM.
 */
export function createLogger(): Logger {
  return pino(
    {
      level: process.env.LOG_LEVEL ?? "info",
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}
