import type { Readable } from "node:stream";

/**
 * The only thing a driver implements: plain storage calls on validated keys.
 *
 * Keys arrive already checked by the core: `/`-separated, relative, with no
 * empty, `.` or `..` segments and no leading or trailing `/`. A "directory" is
 * a key with objects under `key/`. Every method reports failures by throwing a
 * `DriverError` with the closest `ErrorCode`, keeping the SDK's error as
 * `cause`; the core adds the operation, the key and the target to the message.
 * Retries, directory walking, temp files, parallelism and gRPC live in the core.
 */
export interface StorageAdapter {
  /** Where the objects live, for messages and logs (e.g. `s3://bucket at https://host`); no secrets. */
  readonly target: string;

  /** What is at `key`: an object (`file`), objects under `key/` (`directory`), or nothing (`missing`). An object wins over a directory. */
  stat(key: string, signal: AbortSignal): Promise<"file" | "directory" | "missing">;

  /** Opens the object at `key` for reading. Throws `not-found` when no object is at `key` (a directory is not an object). */
  read(key: string, signal: AbortSignal): Promise<Readable>;

  /**
   * Stores `body` as the object at `key`, replacing any object there, creating
   * parent folders where the backend has them. If `body` fails or `signal`
   * aborts, no object readable as whole may be left at `key`.
   */
  write(key: string, body: Readable, options: WriteOptions): Promise<void>;

  /** Removes the object at `key`. A missing object is not an error. */
  delete(key: string, signal: AbortSignal): Promise<void>;

  /** Removes every object under `prefix/` (and the folder itself where the backend has folders). A missing prefix is not an error. */
  deletePrefix(prefix: string, signal: AbortSignal): Promise<void>;

  /** Yields the full key of every object under `prefix/`, at any depth, in any order; nothing when there are none. */
  list(prefix: string, signal: AbortSignal): AsyncIterable<string>;

  /** Optional fast path for a whole local file (e.g. parallel ranged reads); `read` is used when absent. Writes `filePath` itself, which does not exist yet. */
  readToFile?(key: string, filePath: string, signal: AbortSignal): Promise<void>;

  /** Optional fast path for a whole local file (e.g. parallel part uploads); `write` is used when absent. Same atomicity as `write`. */
  writeFromFile?(key: string, filePath: string, options: WriteOptions): Promise<void>;

  /** Releases clients and connections. Called when the adapter leaves the cache or the server stops. */
  close(): Promise<void>;
}

export interface WriteOptions {
  /** Size in bytes when known in advance (files), to choose single or multipart transfers. */
  size?: number;
  signal: AbortSignal;
}
