import { SingleBar } from "cli-progress";

/** A progress display for one transfer; does nothing when disabled. */
export interface Progress {
  /** Counts bytes moved so far. */
  add(bytes: number): void;
  /** Erases the display. */
  stop(): void;
}

export interface ProgressOptions {
  /** Show anything at all (a terminal on `stream`, and not `--quiet`). */
  enabled: boolean;
  /** Where to draw: stderr, so stdout stays the data. */
  stream: NodeJS.WritableStream;
  /** What is happening, e.g. `reading key a/b`. */
  label: string;
  /** Bytes expected, when known: draws a bar with a percentage. */
  total?: number;
  /** Whether bytes are counted here (streams) or only the time runs (Save/Load, done by the plugin). */
  counting: boolean;
  /** Transfers shorter than this show nothing. */
  delayMs?: number;
}

const DISABLED: Progress = { add() {}, stop() {} };

/**
 * A cli-progress bar on stderr that appears only once a transfer has run for
 * `delayMs`, so small transfers print nothing but their summary.
 */
export function startProgress(options: ProgressOptions): Progress {
  if (!options.enabled) return DISABLED;
  const { label, total, counting, stream } = options;
  const delayMs = options.delayMs ?? 300;
  const started = performance.now();
  let bytes = 0;
  let bar: SingleBar | undefined;
  const format = !counting
    ? `${label}${total === undefined ? "" : ` (${formatBytes(total)})`}, {elapsed}`
    : total === undefined
      ? `${label}: {moved}, {speed}, {elapsed}`
      : `${label} [{bar}] {percentage}% {moved} of ${formatBytes(total)}, {speed}, {elapsed}`;
  const payload = () => {
    const seconds = (performance.now() - started) / 1000;
    return {
      moved: formatBytes(bytes),
      speed: `${formatBytes(seconds > 0 ? bytes / seconds : 0)}/s`,
      elapsed: `${seconds.toFixed(1)} s`,
    };
  };
  const timer = setInterval(() => {
    if (bar) {
      bar.update(Math.min(bytes, total ?? bytes), payload());
    } else if (performance.now() - started >= delayMs) {
      bar = new SingleBar({
        format,
        stream,
        hideCursor: true,
        clearOnComplete: true,
        barsize: 30,
        fps: 10,
      });
      bar.start(total ?? 0, Math.min(bytes, total ?? bytes), payload());
    }
  }, 100);
  timer.unref();
  return {
    add(count) {
      bytes += count;
    },
    stop() {
      clearInterval(timer);
      bar?.stop();
    },
  };
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"] as const;

/** `1536` → `1.5 KiB`. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** `1234` ms → `1.23 s`. */
export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}
