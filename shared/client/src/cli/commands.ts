import { createReadStream, fstatSync } from "node:fs";
import { stat } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import { DEFAULT_CHUNK_SIZE } from "../client.js";
import { errorText } from "../errors.js";
import { formatBytes, startProgress } from "../progress.js";
import {
  type CommonOptions,
  counted,
  helpAfter,
  note,
  showProgress,
  timing,
  UsageError,
  withClient,
  withCommonOptions,
  withProgress,
} from "./common.js";

// Descriptions are one line per paragraph: commander wraps them to the
// terminal. Examples are command lines, kept under 80 columns.

/** One example command line, continued after the socket so that it fits 80 columns. */
function example(command: string, rest: string, pipedFrom = ""): string {
  return `  ${pipedFrom}artifact-client ${command} --socket /tmp/local.sock \\\n      --config local.yaml ${rest}`;
}

/** Adds one command per ArtifactService RPC to `program`. */
export function addCommands(program: Command): void {
  addSave(program);
  addLoad(program);
  addCat(program);
  addPut(program);
  addListings(program);
}

function addSave(program: Command): void {
  withCommonOptions(
    program
      .command("save")
      .summary("upload a local file or directory to a key (Save)")
      .description(
        "Asks the plugin to upload a local file or directory tree to the key (the Save RPC, what Argo's wait container does for every output artifact). The plugin reads the path itself, so it must see the same file system as this command.",
      )
      .requiredOption("-p, --path <local path>", "the file or directory to upload"),
  )
    .addHelpText(
      "after",
      helpAfter(
        [],
        `Examples:
${example("save", "--key demo/report.tgz --path ./report.tgz")}
${example("save", "--key demo/site --path ./public")}`,
      ),
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
}

function addLoad(program: Command): void {
  withCommonOptions(
    program
      .command("load")
      .summary("download a key to a local path (Load)")
      .description(
        "Asks the plugin to download the key to a local path (the Load RPC, what Argo's init container does for every input artifact). A key holding one object becomes a file, a key holding objects under it becomes a directory tree. As in Argo, the path should not exist yet and its parent folder should.",
      )
      .requiredOption("-p, --path <local path>", "where to put the file or directory"),
  )
    .addHelpText(
      "after",
      helpAfter(
        [],
        `Examples:
${example("load", "--key demo/report.tgz --path /tmp/report.tgz")}
${example("load", "--key demo/site --path /tmp/site")}`,
      ),
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
}

function addCat(program: Command): void {
  withCommonOptions(
    program
      .command("cat")
      .summary("write an object's bytes to stdout (OpenStream)")
      .description(
        "Streams the object at the key to stdout (the OpenStream RPC, what argo-server does when someone opens an artifact in the UI). Fails, with the plugin's message, if the plugin reports an error at any point of the stream.",
      ),
  )
    .addHelpText(
      "after",
      helpAfter(
        [],
        `Examples:
${example("cat", "--key demo/hello.txt")}
${example("cat", "--key demo/out.tgz > out.tgz")}
${example("cat", "--key demo/out.tgz | tar tzf -")}`,
      ),
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
}

function addPut(program: Command): void {
  withCommonOptions(
    program
      .command("put")
      .summary("store stdin (or --file) as an object (SaveStream)")
      .description(
        "Sends stdin to the key in 2 MiB chunks (the SaveStream RPC of Argo 4.1, what argo-server does for an upload from the UI). Stdin is the data here, so the configuration cannot be read from stdin: use --config <file> or --config-text.",
      )
      .option("-f, --file <path>", "send this file instead of stdin"),
  )
    .addHelpText(
      "after",
      helpAfter(
        [],
        `Examples:
${example("put", "--key demo/hello.txt", "echo hello | ")}
${example("put", "--key demo/out.tgz", "tar czf - ./out | ")}
${example("put", "--key demo/big.bin --file ./big.bin")}`,
      ),
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
}

/** The calls argo-server and the garbage collector make: no data moves. */
function addListings(program: Command): void {
  withCommonOptions(
    program
      .command("ls")
      .summary("list every object under a directory key (ListObjects)")
      .description(
        "Prints the full key of every object under the key, one per line (the ListObjects RPC, what argo-server does to show a directory artifact). For a key holding a single object the list may be empty or hold the key itself; a missing key is an error.",
      ),
  )
    .addHelpText("after", helpAfter([], `Example:\n${example("ls", "--key demo/site")}`))
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
        "Prints true when objects exist under the key, else false (the IsDirectory RPC, which argo-server calls before opening an artifact). A missing key prints false.",
      ),
  )
    .addHelpText("after", helpAfter([], `Example:\n${example("is-dir", "--key demo/site")}`))
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
        "Deletes the object at the key, or every object under it (the Delete RPC, what Argo's artifact garbage collection does). Deleting a missing key succeeds.",
      ),
  )
    .addHelpText("after", helpAfter([], `Example:\n${example("rm", "--key demo/site")}`))
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
        "Prints the plugin's capabilities (the GetCapabilities RPC of Argo 4.1). A plugin built for Argo 4.0 answers UNIMPLEMENTED, which reads as false, as Argo reads it.",
      ),
    { key: false },
  )
    .addHelpText(
      "after",
      helpAfter([], "Example:\n  artifact-client caps --socket /tmp/local.sock"),
    )
    .action(async (options: CommonOptions) => {
      await withClient(options, async (client) => {
        const capabilities = await client.capabilities();
        process.stdout.write(`supports_save_stream: ${capabilities.supportsSaveStream}\n`);
      });
    });
}
