#!/usr/bin/env node
import { createReadStream, fstatSync, readFileSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { basename, dirname, extname, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { ArtifactClient, ArtifactClientError, DEFAULT_CHUNK_SIZE } from "./client.js";
import { formatBytes, formatDuration, type Progress, startProgress } from "./progress.js";

/** Exit statuses, also listed in --help. */
const EXIT = { failed: 1, usage: 2, unavailable: 3 } as const;

/** Wrong use of the command line, found after parsing (exit status 2). */
class UsageError extends Error {}

interface CommonOptions {
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

const program = new Command("artifact-client")
  .description(
    `Talks to an Argo Workflows artifact driver plugin over its Unix socket, the way
Argo's executor and argo-server do (gRPC service artifact.ArtifactService).
Use it to try a plugin by hand before registering it in Argo.

Every command takes the socket (--socket), the plugin configuration
(--config <file> or --config-text <text>) and, except caps, an artifact key
(--key). Results go to stdout; summaries, progress and errors go to stderr.`,
  )
  .version(packageVersion(), "-V, --version")
  .showHelpAfterError("(run with --help for usage and examples)")
  .exitOverride()
  .addHelpText(
    "after",
    `
Examples:
  # Start a plugin on a socket (here the local reference plugin of this repo,
  # which keeps objects under the folder named by its "root" setting):
  node drivers/local/dist/main.js /tmp/local.sock &

  # Upload a file, list the folder, read the file back:
  artifact-client save --socket /tmp/local.sock --config-text 'root: /tmp/store' \\
      --key demo/hello.txt --path ./hello.txt
  artifact-client ls   --socket /tmp/local.sock --config-text 'root: /tmp/store' --key demo
  artifact-client cat  --socket /tmp/local.sock --config-text 'root: /tmp/store' --key demo/hello.txt

  # Keep the socket in the environment and the configuration in a file:
  export ARTIFACT_CLIENT_SOCKET=/tmp/local.sock
  echo 'root: /tmp/store' > local.yaml
  artifact-client caps
  tar czf - ./out | artifact-client put --config local.yaml --key demo/out.tgz

Run "artifact-client <command> --help" for the options and examples of a command.

Exit status: 0 success; 1 the call failed (the plugin's message is printed);
2 wrong usage; 3 no plugin accepted a connection on the socket.`,
  );

function withCommonOptions(command: Command, options: { key: boolean } = { key: true }): Command {
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

withCommonOptions(
  program
    .command("save")
    .summary("upload a local file or directory to a key (Save)")
    .description(
      `Asks the plugin to upload a local file or directory tree to the key (the Save RPC,
what Argo's wait container does for every output artifact). The plugin reads the
path itself, so it must see the same file system as this command.`,
    )
    .requiredOption("-p, --path <local path>", "the file or directory to upload"),
)
  .addHelpText(
    "after",
    `
Examples:
  artifact-client save --socket /tmp/local.sock --config local.yaml --key demo/report.tgz --path ./report.tgz
  artifact-client save --socket /tmp/local.sock --config local.yaml --key demo/site --path ./public`,
  )
  .action(async (options: CommonOptions & { path: string }) => {
    await withClient(options, async (client) => {
      const info = await stat(options.path).catch(() => undefined);
      const size = info?.isFile() ? info.size : undefined;
      const started = performance.now();
      await withProgress(
        options,
        { label: `saving ${options.path} to key ${options.key}`, total: size, counting: false },
        () => client.save(options.key, options.path),
      );
      const what = info?.isDirectory()
        ? `directory ${options.path}`
        : `${options.path}${size === undefined ? "" : ` (${formatBytes(size)})`}`;
      note(options, `saved ${what} to key "${options.key}" ${timing(started, size)}`);
    });
  });

withCommonOptions(
  program
    .command("load")
    .summary("download a key to a local path (Load)")
    .description(
      `Asks the plugin to download the key to a local path (the Load RPC, what Argo's init
container does for every input artifact). A key holding one object becomes a file,
a key holding objects under it becomes a directory tree. As in Argo, the path should
not exist yet and its parent folder should.`,
    )
    .requiredOption("-p, --path <local path>", "where to put the file or directory"),
)
  .addHelpText(
    "after",
    `
Examples:
  artifact-client load --socket /tmp/local.sock --config local.yaml --key demo/report.tgz --path /tmp/report.tgz
  artifact-client load --socket /tmp/local.sock --config local.yaml --key demo/site --path /tmp/site`,
  )
  .action(async (options: CommonOptions & { path: string }) => {
    await withClient(options, async (client) => {
      const started = performance.now();
      await withProgress(
        options,
        { label: `loading key ${options.key} into ${options.path}`, counting: false },
        () => client.load(options.key, options.path),
      );
      const info = await stat(options.path).catch(() => undefined);
      const size = info?.isFile() ? info.size : undefined;
      const what = info?.isDirectory()
        ? `directory ${options.path}`
        : `${options.path}${size === undefined ? "" : ` (${formatBytes(size)})`}`;
      note(options, `loaded key "${options.key}" into ${what} ${timing(started, size)}`);
    });
  });

withCommonOptions(
  program
    .command("cat")
    .summary("write an object's bytes to stdout (OpenStream)")
    .description(
      `Streams the object at the key to stdout (the OpenStream RPC, what argo-server does
when someone opens an artifact in the UI). Fails, with the plugin's message, if the
plugin reports an error at any point of the stream.`,
    ),
)
  .addHelpText(
    "after",
    `
Examples:
  artifact-client cat --socket /tmp/local.sock --config local.yaml --key demo/hello.txt
  artifact-client cat --socket /tmp/local.sock --config local.yaml --key demo/out.tgz > out.tgz
  artifact-client cat --socket /tmp/local.sock --config local.yaml --key demo/out.tgz | tar tzf -`,
  )
  .action(async (options: CommonOptions) => {
    await withClient(options, async (client) => {
      const started = performance.now();
      let bytes = 0;
      const progress = startProgress({
        enabled: showProgress(options) && process.stdout.isTTY !== true,
        stream: process.stderr,
        label: `reading key ${options.key}`,
        counting: true,
      });
      let readerLeft = false;
      try {
        await pipeline(
          client.openStream(options.key),
          async function* (frames: AsyncIterable<Buffer>) {
            for await (const data of frames) {
              bytes += data.length;
              progress.add(data.length);
              yield data;
            }
          },
          process.stdout,
        );
      } catch (error) {
        // The reader went away (`| head`): as for cat(1), that is not a failure of the plugin.
        if ((error as NodeJS.ErrnoException).code !== "EPIPE") throw error;
        readerLeft = true;
      } finally {
        progress.stop();
      }
      const outcome = readerLeft ? "stopped after reading" : "read";
      const reason = readerLeft ? " (the reader closed the pipe)" : "";
      note(
        options,
        `${outcome} ${formatBytes(bytes)} from key "${options.key}" ${timing(started, bytes)}${reason}`,
      );
    });
  });

withCommonOptions(
  program
    .command("put")
    .summary("store stdin (or --file) as an object (SaveStream)")
    .description(
      `Sends stdin to the key in 2 MiB chunks (the SaveStream RPC of Argo 4.1, what
argo-server does for an upload from the UI). Stdin is the data here, so the
configuration cannot be read from stdin: use --config <file> or --config-text.`,
    )
    .option("-f, --file <path>", "send this file instead of stdin"),
)
  .addHelpText(
    "after",
    `
Examples:
  echo hello | artifact-client put --socket /tmp/local.sock --config local.yaml --key demo/hello.txt
  tar czf - ./out | artifact-client put --socket /tmp/local.sock --config local.yaml --key demo/out.tgz
  artifact-client put --socket /tmp/local.sock --config local.yaml --key demo/big.bin --file ./big.bin`,
  )
  .action(async (options: CommonOptions & { file?: string }) => {
    const fromStdin = options.file === undefined;
    if (fromStdin && options.config === "-") {
      throw new UsageError(
        "put reads the artifact's data from stdin, so its configuration cannot come from stdin too (--config -): pass a file (--config local.yaml), the text (--config-text 'root: /tmp/store'), or send the data from a file with --file",
      );
    }
    await withClient(options, async (client) => {
      let total: number | undefined;
      let source: AsyncIterable<Buffer>;
      if (options.file !== undefined) {
        const file = options.file;
        total = await stat(file).then(
          (info) => (info.isFile() ? info.size : undefined),
          (error: unknown) => {
            throw new UsageError(`cannot read ${file}: ${errorText(error)}`);
          },
        );
        source = createReadStream(file, { highWaterMark: DEFAULT_CHUNK_SIZE });
      } else {
        const stdin = fstatSync(0);
        total = stdin.isFile() ? stdin.size : undefined;
        if (process.stdin.isTTY) {
          note(
            options,
            "reading the data to store from the terminal; end it with Ctrl-D (or pipe it in: ... | artifact-client put ...)",
          );
        }
        source = process.stdin;
      }
      const started = performance.now();
      const progress = startProgress({
        enabled: showProgress(options),
        stream: process.stderr,
        label: `storing key ${options.key}`,
        total,
        counting: true,
      });
      let sent: number;
      try {
        sent = await client.saveStream(options.key, counted(source, progress));
      } finally {
        progress.stop();
      }
      note(
        options,
        `stored ${formatBytes(sent)} at key "${options.key}" with SaveStream ${timing(started, sent)}`,
      );
    });
  });

withCommonOptions(
  program
    .command("ls")
    .summary("list every object under a directory key (ListObjects)")
    .description(
      `Prints the full key of every object under the key, one per line (the ListObjects
RPC, what argo-server does to show a directory artifact). For a key holding a single
object the list may be empty or hold the key itself; a missing key is an error.`,
    ),
)
  .addHelpText(
    "after",
    `
Example:
  artifact-client ls --socket /tmp/local.sock --config local.yaml --key demo/site`,
  )
  .action(async (options: CommonOptions) => {
    await withClient(options, async (client) => {
      const keys = await client.list(options.key);
      if (keys.length > 0) process.stdout.write(`${keys.join("\n")}\n`);
      note(
        options,
        `${keys.length} object${keys.length === 1 ? "" : "s"} under key "${options.key}"`,
      );
    });
  });

withCommonOptions(
  program
    .command("is-dir")
    .summary("print true if objects exist under the key (IsDirectory)")
    .description(
      `Prints true when objects exist under the key, else false (the IsDirectory RPC,
which argo-server calls before opening an artifact). A missing key prints false.`,
    ),
)
  .addHelpText(
    "after",
    `
Example:
  artifact-client is-dir --socket /tmp/local.sock --config local.yaml --key demo/site`,
  )
  .action(async (options: CommonOptions) => {
    await withClient(options, async (client) => {
      process.stdout.write(`${await client.isDirectory(options.key)}\n`);
    });
  });

withCommonOptions(
  program
    .command("rm")
    .summary("delete an object or a whole directory key (Delete)")
    .description(
      `Deletes the object at the key, or every object under it (the Delete RPC, what
Argo's artifact garbage collection does). Deleting a missing key succeeds.`,
    ),
)
  .addHelpText(
    "after",
    `
Example:
  artifact-client rm --socket /tmp/local.sock --config local.yaml --key demo/site`,
  )
  .action(async (options: CommonOptions) => {
    await withClient(options, async (client) => {
      await client.delete(options.key);
      note(options, `deleted key "${options.key}" (or it did not exist)`);
    });
  });

withCommonOptions(
  program
    .command("caps")
    .summary("show what the plugin supports (GetCapabilities)")
    .description(
      `Prints the plugin's capabilities (the GetCapabilities RPC of Argo 4.1). A plugin
built for Argo 4.0 answers UNIMPLEMENTED, which reads as false, as Argo reads it.`,
    ),
  { key: false },
)
  .addHelpText(
    "after",
    `
Example:
  artifact-client caps --socket /tmp/local.sock`,
  )
  .action(async (options: CommonOptions) => {
    await withClient(options, async (client) => {
      const capabilities = await client.capabilities();
      process.stdout.write(`supports_save_stream: ${capabilities.supportsSaveStream}\n`);
    });
  });

/** Builds a client from the common options, runs `body`, always closes the connection. */
async function withClient(
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

async function withProgress<T>(
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

async function* counted(source: AsyncIterable<Buffer>, progress: Progress): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    progress.add(chunk.length);
    yield chunk;
  }
}

function showProgress(options: CommonOptions): boolean {
  return options.progress && !options.quiet && process.stderr.isTTY === true;
}

function note(options: CommonOptions, text: string): void {
  if (!options.quiet) process.stderr.write(`${text}\n`);
}

function timing(startedMs: number, bytes: number | undefined): string {
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

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function packageVersion(): string {
  const text = readFileSync(new URL("../package.json", import.meta.url), "utf8");
  return (JSON.parse(text) as { version: string }).version;
}

async function main(): Promise<void> {
  try {
    await program.parseAsync();
  } catch (error) {
    process.exitCode = exitStatus(error);
  }
}

function exitStatus(error: unknown): number {
  // Commander has already printed its own message (or the help / version, status 0).
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT.usage;
  const command = process.argv[2] ?? "";
  if (error instanceof UsageError) {
    process.stderr.write(`artifact-client ${command}: ${error.message}\n`);
    return EXIT.usage;
  }
  if (error instanceof ArtifactClientError) {
    // The plugin's own message, as Argo would show it; the RPC and status only add context.
    const context =
      error.kind === "status"
        ? ` (${error.operation} ended with gRPC status ${error.codeName})`
        : "";
    process.stderr.write(`artifact-client ${command} failed${context}: ${error.message}\n`);
    return error.kind === "unavailable" ? EXIT.unavailable : EXIT.failed;
  }
  process.stderr.write(`artifact-client ${command}: ${errorText(error)}\n`);
  return EXIT.failed;
}

await main();
