import { readFile } from "node:fs/promises";
import { basename, dirname, extname, resolve } from "node:path";
import {
  type AddHelpTextContext,
  type Command,
  Help,
  InvalidArgumentError,
  Option,
} from "commander";
import { ArtifactClient } from "../client.js";
import { errorText } from "../errors.js";
import { formatDuration, type Progress, startProgress } from "../progress.js";

/** Exit statuses, also listed in --help. */
export const EXIT = { failed: 1, usage: 2, unavailable: 3 } as const;

/** Wrong use of the command line, found after parsing (exit status 2). */
export class UsageError extends Error {}

export interface CommonOptions {
  socket: string;
  key: string;
  config?: string;
  configText?: string;
  pluginName?: string;
  wait: number;
  timeout?: number;
  quiet?: boolean;
  progress: boolean;
}

/**
 * Help text after the options: `prose` paragraphs (one line each in the
 * source) wrapped by commander to the width it wraps everything else to, then
 * `examples` as they are (command lines, kept under 80 columns).
 */
export function helpAfter(
  prose: string[],
  examples: string,
): (context: AddHelpTextContext) => string {
  return ({ command, error }) => {
    const output = command.configureOutput();
    const width = (error ? output.getErrHelpWidth?.() : output.getOutHelpWidth?.()) ?? 80;
    const help = new Help();
    const wrapped = prose.map((paragraph) => help.boxWrap(paragraph, width));
    return `\n${[examples, ...wrapped].filter((part) => part !== "").join("\n\n")}`;
  };
}

/** The options every command takes: socket, configuration, plugin name, timeouts, output. */
export function withCommonOptions(
  command: Command,
  options: { key: boolean } = { key: true },
): Command {
  command.addOption(
    new Option(
      "-s, --socket <path>",
      "the plugin's Unix socket (in a pod: /tmp/artifact-plugins/<name>/socket)",
    )
      .env("ARTIFACT_CLIENT_SOCKET")
      .makeOptionMandatory(),
  );
  if (options.key) {
    command.addOption(
      new Option(
        "-k, --key <key>",
        "the artifact's key: where it lives in the storage, e.g. my-workflow/my-pod/out.tgz",
      ).makeOptionMandatory(),
    );
  }
  return command
    .addOption(
      new Option(
        "-c, --config <file|->",
        "file holding the plugin configuration (YAML or JSON), or - to read it from stdin",
      ).conflicts("configText"),
    )
    .addOption(
      new Option(
        "--config-text <text>",
        "the plugin configuration inline, e.g. 'root: /tmp/store' (default: empty)",
      ),
    )
    .addOption(
      new Option(
        "-n, --plugin-name <name>",
        'plugin name sent in each request (default: <name> of a socket at .../<name>/socket, else the socket file name without extension, e.g. "local" for /tmp/local.sock)',
      ),
    )
    .addOption(
      new Option(
        "--wait <seconds>",
        "how long to wait for the socket to appear and accept a connection, like Argo's connectionTimeoutSeconds",
      )
        .default(5)
        .argParser(parseSeconds),
    )
    .addOption(
      new Option("--timeout <seconds>", "deadline of the call (default: none)").argParser(
        parseSeconds,
      ),
    )
    .option("-q, --quiet", "print no progress bar and no summary on stderr")
    .option("--no-progress", "never draw a progress bar (one appears on a terminal otherwise)");
}

/** Builds a client from the common options, runs `body`, always closes the connection. */
export async function withClient(
  options: CommonOptions,
  body: (client: ArtifactClient) => Promise<void>,
): Promise<void> {
  const configuration = await readConfiguration(options);
  const client = new ArtifactClient(options.socket, {
    pluginName: options.pluginName ?? defaultPluginName(options.socket),
    configuration,
    readyTimeoutMs: options.wait * 1000,
    callTimeoutMs: options.timeout === undefined ? undefined : options.timeout * 1000,
  });
  try {
    await body(client);
  } finally {
    client.close();
  }
}

async function readConfiguration(options: CommonOptions): Promise<string> {
  if (options.configText !== undefined) return options.configText;
  const file = options.config;
  if (file === undefined) return "";
  if (file === "-") {
    if (process.stdin.isTTY) {
      note(options, "reading the configuration from the terminal; end it with Ctrl-D");
    }
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  }
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read the configuration file ${file}: ${errorText(error)}`);
  }
}

/** Argo's socket is /tmp/artifact-plugins/<name>/socket; elsewhere the file name stands in. */
function defaultPluginName(socket: string): string {
  const path = resolve(socket);
  const file = basename(path);
  if (file === "socket") return basename(dirname(path));
  return basename(file, extname(file)) || file;
}

/** Runs `run` with a progress display on stderr (time only: the plugin moves the bytes). */
export async function withProgress<T>(
  options: CommonOptions,
  what: { label: string; total?: number; counting: boolean },
  run: () => Promise<T>,
): Promise<T> {
  const progress = startProgress({
    enabled: showProgress(options),
    stream: process.stderr,
    ...what,
  });
  try {
    return await run();
  } finally {
    progress.stop();
  }
}

/** Passes `source` through, counting its bytes on `progress`. */
export async function* counted(
  source: AsyncIterable<Buffer>,
  progress: Progress,
): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    progress.add(chunk.length);
    yield chunk;
  }
}

export function showProgress(options: CommonOptions): boolean {
  return options.progress && !options.quiet && process.stderr.isTTY === true;
}

/** A summary line on stderr, unless --quiet. */
export function note(options: CommonOptions, text: string): void {
  if (!options.quiet) process.stderr.write(`${text}\n`);
}

/** `in 1.20 s, 85 MB/s` (the rate only for transfers of 1 MiB or more). */
export function timing(startedMs: number, bytes: number | undefined): string {
  const elapsed = performance.now() - startedMs;
  const rate =
    bytes !== undefined && bytes >= 1024 * 1024 && elapsed > 0
      ? `, ${((bytes / 1e6) * (1000 / elapsed)).toFixed(0)} MB/s`
      : "";
  return `in ${formatDuration(elapsed)}${rate}`;
}

function parseSeconds(value: string): number {
  const seconds = Number(value);
  if (value.trim() === "" || !Number.isFinite(seconds) || seconds < 0) {
    throw new InvalidArgumentError("expected a number of seconds, e.g. 5 or 0.5");
  }
  return seconds;
}
