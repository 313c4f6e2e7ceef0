import { pino } from "pino";

export type Logger = pino.Logger;

/**
 * Structured JSON lines on stderr (stdout stays free for tools), level from
 * LOG_LEVEL. Synchronous writes: a plugin logs one line per call, and a line
 * must not be lost when the process exits on SIGTERM.
 */
export function createLogger(name: string): Logger {
  return pino(
    {
      name,
      level: process.env.LOG_LEVEL ?? "info",
      base: { driver: name },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}
