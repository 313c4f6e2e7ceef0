import { posix } from "node:path";
import type { Readable } from "node:stream";
import {
  type AdapterContext,
  type CallOptions,
  DriverError,
  type EntryKind,
  type FolderEntry,
  type StorageAdapter,
  type WriteOptions,
} from "@argo-artifact-drivers/core";
import ssh2 from "ssh2";
import {
  downloadFile,
  move,
  openForRead,
  removeFile,
  statPath,
  uploadFile,
  writeFile,
} from "./files.js";
import { listFolder, removeTree } from "./folders.js";
import type { HostKeyPolicy } from "./host-key.js";
import { SharedSession } from "./shared-session.js";

export interface SftpAdapterOptions {
  host: string;
  port: number;
  username: string;
  password: string | undefined;
  privateKey: { text: string; source: string; passphrase: string | undefined } | undefined;
  basePath: string;
  hostKey: HostKeyPolicy;
  connectTimeoutMs: number;
  silenceTimeoutMs: number;
  /** Close the SSH connection after this long without calls. */
  idleMs?: number;
}

/**
 * Objects are regular files under `basePath`, a folder backend: the core
 * walks it with `listChildren` and makes writes atomic by writing a temp
 * sibling and `move`-ing it onto the key. Every call shares one SSH session.
 */
export class SftpAdapter implements StorageAdapter {
  readonly target: string;
  private readonly base: string;
  private readonly session: SharedSession;

  constructor(
    options: SftpAdapterOptions,
    private readonly context: AdapterContext,
  ) {
    const where = `${options.host}:${options.port}`;
    this.base = normalizeBase(options.basePath);
    this.target = `sftp://${options.username}@${where}${this.base.startsWith("/") ? "" : "/~/"}${this.base}`;
    if (options.privateKey) {
      // Checked here so a bad key or passphrase is a configuration error, not a failed login.
      const parsed = ssh2.utils.parseKey(options.privateKey.text, options.privateKey.passphrase);
      if (parsed instanceof Error) {
        throw new DriverError(
          "invalid-config",
          `the private key in ${options.privateKey.source} cannot be used: ${parsed.message}`,
        );
      }
    }
    this.session = new SharedSession(
      {
        host: options.host,
        port: options.port,
        username: options.username,
        password: options.password,
        privateKey: options.privateKey && {
          text: options.privateKey.text,
          passphrase: options.privateKey.passphrase,
        },
        hostKey: options.hostKey,
        connectTimeoutMs: options.connectTimeoutMs,
        silenceTimeoutMs: options.silenceTimeoutMs,
        logger: context.logger,
      },
      options.idleMs,
    );
  }

  /** The remote path of a key (checked by the core); never outside the base path. */
  remotePath(key: string): string {
    const path = this.base === "" ? posix.normalize(key) : posix.join(this.base, key);
    const inside = posix.relative(this.base === "" ? "." : this.base, path);
    if (
      inside === "" ||
      inside === ".." ||
      inside.startsWith("../") ||
      posix.isAbsolute(inside) ||
      path !== posix.normalize(path)
    ) {
      throw new DriverError(
        "invalid-key",
        `the key "${key}" would leave the base path "${this.base}"`,
      );
    }
    return path;
  }

  async stat(key: string, { signal }: CallOptions): Promise<EntryKind> {
    const path = this.remotePath(key);
    const stats = await this.session.use(signal, (session) => statPath(session, path));
    if (stats?.isFile()) return "file";
    return stats?.isDirectory() ? "directory" : "missing";
  }

  async read(key: string, { signal }: CallOptions): Promise<Readable> {
    const path = this.remotePath(key);
    // The stream outlives this call: the session counts as busy until it closes.
    const release = this.session.hold();
    try {
      const session = await this.session.connection();
      signal.throwIfAborted();
      const stream = await openForRead(session, path);
      const abort = () => stream.destroy(new DriverError("transient", "the call was cancelled"));
      signal.addEventListener("abort", abort, { once: true });
      stream.once("close", () => {
        signal.removeEventListener("abort", abort);
        release();
      });
      if (signal.aborted) abort();
      return stream;
    } catch (error) {
      release();
      throw error;
    }
  }

  async write(key: string, body: Readable, options: WriteOptions): Promise<void> {
    const path = this.remotePath(key);
    await this.session.use(options.signal, (session) => writeFile(session, path, body, options));
  }

  async writeFromFile(key: string, filePath: string, { signal }: WriteOptions): Promise<void> {
    const path = this.remotePath(key);
    await this.session.use(signal, (session) =>
      uploadFile(session, path, filePath, this.context.parallel, signal),
    );
  }

  async readToFile(key: string, filePath: string, { signal }: CallOptions): Promise<void> {
    const path = this.remotePath(key);
    await this.session.use(signal, (session) =>
      downloadFile(session, path, filePath, this.context.parallel, signal),
    );
  }

  async move(from: string, to: string, { signal }: CallOptions): Promise<void> {
    const source = this.remotePath(from);
    const target = this.remotePath(to);
    await this.session.use(signal, (session) => move(session, source, target));
  }

  async delete(key: string, { signal }: CallOptions): Promise<void> {
    const path = this.remotePath(key);
    await this.session.use(signal, (session) => removeFile(session, path));
  }

  async deletePrefix(prefix: string, { signal }: CallOptions): Promise<void> {
    const path = this.remotePath(prefix);
    await this.session.use(signal, (session) =>
      removeTree(session, path, this.context.parallel, signal),
    );
  }

  async *listChildren(prefix: string, { signal }: CallOptions): AsyncIterable<FolderEntry> {
    const folder = prefix === "" ? this.base || "." : this.remotePath(prefix);
    yield* await this.session.use(signal, (session) => listFolder(session, folder));
  }

  async close(): Promise<void> {
    await this.session.close();
  }
}

function normalizeBase(basePath: string): string {
  const trimmed = basePath.trim();
  if (trimmed === "" || trimmed === ".") return "";
  const normalized = posix.normalize(trimmed);
  const withoutSlash =
    normalized.length > 1 && normalized.endsWith("/") ? normalized.slice(0, -1) : normalized;
  if (withoutSlash === ".") return "";
  return withoutSlash;
}
