import type { Readable } from "node:stream";

/**
 * The only thing a driver implements: plain storage calls on validated keys.
 * docs/adapter-contract.md explains each rule with its conformance scenario.
 *
 * Keys arrive checked by the core: `/`-separated, relative, no empty, `.` or
 * `..` segments, no leading or trailing `/`, never a temp name. A directory is
 * a key with at least one object (file) somewhere under `key/`; empty folders
 * and folder markers (`key/` objects) are not artifacts. Failures are thrown
 * as `DriverError`s with the closest code and the SDK's error as `cause`; the
 * core adds operation, key and target to the message. Retries of whole calls,
 * walking, temp names, parallelism, streaming and gRPC live in the core.
 *
 * A backend lists one of two ways: `list` (flat, object stores) or
 * `listChildren` (one level, backends with real folders, walked by the core).
 * Writes are atomic natively (object stores), or through `move`: the core then
 * writes to a temp sibling, moves it onto the key and hides temp names.
 */
export interface StorageAdapter {
  /** Where the objects live, for messages and logs (e.g. `s3://bucket at https://host`); no secrets. */
  readonly target: string;

  /** An object (`file`), a directory, or nothing at `key`; an object wins. Folder backends may say `directory` for an empty folder: the core checks for files below. */
  stat(key: string, options: CallOptions): Promise<EntryKind>;

  /** Opens the object at `key`. Throws `not-found` when no object is there (a directory is not an object). */
  read(key: string, options: CallOptions): Promise<Readable>;

  /** Stores `body` at `key`, replacing it, creating parent folders. Atomic unless the adapter has `move` (then `key` is a temp name). */
  write(key: string, body: Readable, options: WriteOptions): Promise<void>;

  /** Removes the object at `key`; a missing object is not an error. */
  delete(key: string, options: CallOptions): Promise<void>;

  /** Removes everything under `prefix/`, and the folder where the backend has folders; a missing prefix is not an error. */
  deletePrefix(prefix: string, options: CallOptions): Promise<void>;

  /** Object stores: the full key of every object under `prefix/`, any depth, any order, folder markers included (the core drops them). */
  list?(prefix: string, options: CallOptions): AsyncIterable<string>;

  /** Folder backends: the entries directly in folder `prefix` (the root when `""`); nothing for a missing folder. Symlinks and special files are left out. */
  listChildren?(prefix: string, options: CallOptions): AsyncIterable<FolderEntry>;

  /** Backends without atomic writes: renames the object `from` onto `to`, replacing it. */
  move?(from: string, to: string, options: CallOptions): Promise<void>;

  /** Optional fast path into a local file that does not exist yet (parallel ranges, ...); `read` otherwise. */
  readToFile?(key: string, filePath: string, options: CallOptions): Promise<void>;

  /** Optional fast path from a whole local file (parallel parts, ...); `write` otherwise. Same atomicity as `write`. */
  writeFromFile?(key: string, filePath: string, options: WriteOptions): Promise<void>;

  /** Releases clients and connections; called when the adapter leaves the cache or the server stops. */
  close(): Promise<void>;
}

/** What every adapter method receives. */
export interface CallOptions {
  /** Fires when the call is cancelled, a sibling transfer failed, or the server stops: pass it to every request. */
  readonly signal: AbortSignal;
}

export interface WriteOptions extends CallOptions {
  /** Size in bytes when known in advance (files), to choose single or multipart transfers. */
  readonly size?: number;
}

export type EntryKind = "file" | "directory" | "missing";

/** One entry of a folder, as `listChildren` yields it. */
export interface FolderEntry {
  /** The entry's name within the folder (no `/`). */
  readonly name: string;
  readonly kind: "file" | "directory";
}
