import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import type { Readable } from "node:stream";
import type { CallOptions, EntryKind, StorageAdapter, WriteOptions } from "./adapter.js";
import { DriverError } from "./errors.js";
import { hasTempSegment, tempSibling } from "./temp-names.js";
import { walkFiles } from "./walk.js";
import { writeCoalesced } from "./wire.js";

/** How long cleaning up a temp object may take once its call has failed or been cancelled. */
const CLEANUP_TIMEOUT_MS = 30_000;
/** Keys whose failed temp clean-ups are remembered; beyond this, leftovers are forgotten. */
const MAX_LEFTOVER_KEYS = 1024;

/**
 * An adapter seen through the core's rules, the same for every backend:
 * a directory has at least one file below it, listings hold files only
 * (no folder markers, no temp names, nothing outside the prefix), and writes
 * are atomic, through a temp sibling and `move` where the backend needs it.
 */
export class Storage {
  /**
   * Temp objects a failed write could not remove (the connection that broke
   * the write often breaks the clean-up too), by key: removed once a later
   * write of that key succeeds, so a retried upload leaves nothing behind.
   */
  private readonly leftovers = new Map<string, Set<string>>();

  constructor(
    readonly adapter: StorageAdapter,
    private readonly parallelism: number,
  ) {
    if (!adapter.list === !adapter.listChildren) {
      throw new Error(
        "a StorageAdapter implements exactly one of list (object stores) and listChildren (folder backends)",
      );
    }
  }

  get target(): string {
    return this.adapter.target;
  }

  /** `directory` only when a file exists below `key/`: empty folders and folder markers are nothing. */
  async kind(key: string, options: CallOptions): Promise<EntryKind> {
    const kind = await this.adapter.stat(key, options);
    if (kind !== "directory" || this.adapter.list) return kind;
    for await (const _ of this.files(key, options)) return "directory";
    return "missing";
  }

  /** The full key of every file under `prefix/`. */
  async *files(prefix: string, options: CallOptions): AsyncGenerator<string> {
    if (this.adapter.listChildren) {
      yield* walkFiles(this.adapter.listChildren.bind(this.adapter), prefix, {
        ...options,
        concurrency: this.parallelism,
      });
      return;
    }
    const under = `${prefix}/`;
    for await (const key of (this.adapter.list as NonNullable<StorageAdapter["list"]>)(
      prefix,
      options,
    )) {
      if (!key.startsWith(under)) {
        throw new DriverError(
          "unknown",
          `the backend listed "${key}", which is not under "${under}"`,
        );
      }
      if (key.endsWith("/") || hasTempSegment(key.slice(under.length))) continue;
      yield key;
    }
  }

  async read(key: string, options: CallOptions): Promise<Readable> {
    return unheardErrorsAllowed(await this.adapter.read(key, options));
  }

  /** Writes `body` at `key` so that a failure leaves nothing readable there. */
  async write(key: string, body: Readable, options: WriteOptions): Promise<void> {
    await this.atomically(key, options, (to) => this.adapter.write(to, body, options));
  }

  async writeFromFile(key: string, filePath: string, options: WriteOptions): Promise<void> {
    const { adapter } = this;
    await this.atomically(key, options, (to) =>
      adapter.writeFromFile
        ? adapter.writeFromFile(to, filePath, options)
        : adapter.write(to, createReadStream(filePath), options),
    );
  }

  async readToFile(key: string, filePath: string, options: CallOptions): Promise<void> {
    if (this.adapter.readToFile) return this.adapter.readToFile(key, filePath, options);
    const source = unheardErrorsAllowed(await this.adapter.read(key, options));
    const file = await open(filePath, "w");
    try {
      await writeCoalesced(source, file, options.signal);
    } finally {
      source.destroy();
      await file.close();
    }
  }

  delete(key: string, options: CallOptions): Promise<void> {
    return this.adapter.delete(key, options);
  }

  deletePrefix(prefix: string, options: CallOptions): Promise<void> {
    return this.adapter.deletePrefix(prefix, options);
  }

  /** Object stores write in place; others write a temp sibling and move it onto the key. */
  private async atomically(
    key: string,
    options: CallOptions,
    write: (to: string) => Promise<void>,
  ): Promise<void> {
    const { adapter } = this;
    if (!adapter.move) return write(key);
    const temp = tempSibling(key);
    try {
      await write(temp);
      options.signal.throwIfAborted();
      await adapter.move(temp, key, options);
    } catch (error) {
      await adapter
        .delete(temp, { signal: AbortSignal.timeout(CLEANUP_TIMEOUT_MS) })
        .catch(() => this.remember(key, temp));
      throw error;
    }
    await this.sweep(key);
  }

  private remember(key: string, temp: string): void {
    const temps = this.leftovers.get(key);
    if (temps) temps.add(temp);
    else if (this.leftovers.size < MAX_LEFTOVER_KEYS) this.leftovers.set(key, new Set([temp]));
  }

  private async sweep(key: string): Promise<void> {
    const temps = this.leftovers.get(key);
    if (!temps) return;
    this.leftovers.delete(key);
    for (const temp of temps) {
      await this.adapter
        .delete(temp, { signal: AbortSignal.timeout(CLEANUP_TIMEOUT_MS) })
        .catch(() => undefined);
    }
  }
}

/**
 * An adapter's stream can fail before its reader is attached (a small body
 * whose checksum is checked at its end, while the core is still opening the
 * file). An 'error' event nobody listens to would end the whole process; the
 * reader still gets the error, from the destroyed stream's state.
 */
function unheardErrorsAllowed(stream: Readable): Readable {
  stream.on("error", () => undefined);
  return stream;
}
