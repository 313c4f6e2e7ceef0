import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { posix } from "node:path";
import type { Readable } from "node:stream";
import {
  DriverError,
  type Logger,
  type StorageAdapter,
  type WriteOptions,
} from "@argo-artifact-drivers/core";
import pMap from "p-map";
import type { FileEntryWithStats, Stats } from "ssh2";
import ssh2 from "ssh2";
import { connect, type Session } from "./connection.js";
import { requestError, SFTP_STATUS, statusOf } from "./errors.js";
import type { HostKeyPolicy } from "./host-key.js";
import { CHUNK_SIZE, PipelinedReadStream, pipelinedWrite } from "./transfer.js";

export interface SftpAdapterOptions {
  host: string;
  port: number;
  username: string;
  password: string | undefined;
  privateKey: { text: string; source: string; passphrase: string | undefined } | undefined;
  basePath: string;
  hostKey: HostKeyPolicy;
  connectTimeoutMs: number;
  logger: Logger;
  /** Close the SSH connection after this long without calls. */
  idleMs?: number;
}

/** Folders walked at once when listing or deleting a tree. */
const WALK_PARALLELISM = 8;
const DEFAULT_IDLE_MS = 30_000;

/** `.<name>.tmp-<12 hex>`: where uploads are written before the rename onto the key. */
const TEMP_NAME = /^\..+\.tmp-[0-9a-f]{12}$/;

function tempNameFor(path: string): string {
  return posix.join(
    posix.dirname(path),
    `.${posix.basename(path)}.tmp-${randomBytes(6).toString("hex")}`,
  );
}

type Kind = "file" | "directory" | "other";

function kindOf(stats: Stats): Kind {
  if (stats.isFile()) return "file";
  if (stats.isDirectory()) return "directory";
  return "other";
}

/**
 * Objects are regular files under `basePath`; a directory artifact is a folder.
 * One SSH connection per adapter (per distinct configuration), opened on the
 * first call, shared by concurrent calls, reopened after it drops and closed
 * after `idleMs` without calls.
 */
export class SftpAdapter implements StorageAdapter {
  readonly target: string;
  private readonly base: string;
  private readonly where: string;
  private session: Promise<Session> | undefined;
  private active = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: SftpAdapterOptions) {
    this.where = `${options.host}:${options.port}`;
    this.base = normalizeBase(options.basePath);
    this.target = `sftp://${options.username}@${this.where}${this.base.startsWith("/") ? "" : "/~/"}${this.base}`;
    if (options.privateKey) {
      const parsed = ssh2.utils.parseKey(options.privateKey.text, options.privateKey.passphrase);
      if (parsed instanceof Error) {
        throw new DriverError(
          "invalid-config",
          `the private key in ${options.privateKey.source} cannot be used: ${parsed.message}`,
        );
      }
    }
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

  async stat(key: string, signal: AbortSignal): Promise<"file" | "directory" | "missing"> {
    const path = this.remotePath(key);
    return this.use(signal, async (session) => {
      const stats = await this.statPath(session, path);
      if (!stats) return "missing";
      const kind = kindOf(stats);
      if (kind === "file") return "file";
      // Like an object store: a folder is a directory only when objects are under it.
      if (kind === "directory" && (await this.hasObjects(session, path, signal)))
        return "directory";
      return "missing";
    });
  }

  async read(key: string, signal: AbortSignal): Promise<Readable> {
    const path = this.remotePath(key);
    this.begin();
    try {
      const session = await this.connection();
      signal.throwIfAborted();
      const handle = await session
        .request<Buffer>((sftp, done) => sftp.open(path, "r", done))
        .catch((error: unknown) => {
          throw this.fail(error, `cannot open "${path}"`);
        });
      let stats: Stats;
      try {
        stats = await session.request<Stats>((sftp, done) => sftp.fstat(handle, done));
        if (!stats.isFile()) {
          throw new DriverError(
            "not-found",
            `"${path}" is a ${stats.isDirectory() ? "folder" : "special file"}, not an object`,
          );
        }
      } catch (error) {
        await session
          .request<void>((sftp, done) => sftp.close(handle, done))
          .catch(() => undefined);
        throw this.fail(error, `cannot read "${path}"`);
      }
      const stream = new PipelinedReadStream(session, handle, stats.size, path, (error) =>
        this.fail(error, `cannot read "${path}"`),
      );
      const abort = () => stream.destroy(new DriverError("transient", "the call was cancelled"));
      signal.addEventListener("abort", abort, { once: true });
      stream.once("close", () => {
        signal.removeEventListener("abort", abort);
        this.end();
      });
      return stream;
    } catch (error) {
      this.end();
      throw error;
    }
  }

  async write(key: string, body: Readable, options: WriteOptions): Promise<void> {
    const path = this.remotePath(key);
    await this.use(options.signal, (session) =>
      this.atomically(session, path, async (temp) => {
        const handle = await this.openForWrite(session, temp);
        let written: number;
        try {
          written = await pipelinedWrite(session, handle, body, options.signal);
        } catch (error) {
          await session
            .request<void>((sftp, done) => sftp.close(handle, done))
            .catch(() => undefined);
          throw error;
        }
        await session.request<void>((sftp, done) => sftp.close(handle, done));
        if (options.size !== undefined && written !== options.size) {
          throw new DriverError(
            "transient",
            `the upload to "${path}" got ${written} bytes, ${options.size} expected`,
          );
        }
      }),
    );
  }

  async writeFromFile(key: string, filePath: string, options: WriteOptions): Promise<void> {
    const path = this.remotePath(key);
    await this.use(options.signal, (session) =>
      this.atomically(session, path, async (temp) => {
        await this.ensureParent(session, temp);
        await session.request<void>((sftp, done) =>
          sftp.fastPut(filePath, temp, { concurrency: 16, chunkSize: CHUNK_SIZE }, (error) =>
            done(error),
          ),
        );
        options.signal.throwIfAborted();
      }),
    );
  }

  async readToFile(key: string, filePath: string, signal: AbortSignal): Promise<void> {
    const path = this.remotePath(key);
    await this.use(signal, async (session) => {
      const stats = await this.statPath(session, path);
      if (!stats?.isFile()) {
        throw new DriverError(
          "not-found",
          stats
            ? `"${path}" is a folder or special file, not an object`
            : `"${path}": no such file`,
        );
      }
      if (stats.size === 0) {
        // fastGet creates no local file when there is nothing to copy.
        await writeFile(filePath, "");
        return;
      }
      await session
        .request<void>((sftp, done) =>
          sftp.fastGet(
            path,
            filePath,
            { concurrency: 16, chunkSize: CHUNK_SIZE, fileSize: stats.size },
            (error) => done(error),
          ),
        )
        .catch((error: unknown) => {
          throw this.fail(error, `cannot download "${path}"`);
        });
      signal.throwIfAborted();
    });
  }

  async delete(key: string, signal: AbortSignal): Promise<void> {
    const path = this.remotePath(key);
    await this.use(signal, async (session) => {
      await session
        .request<void>((sftp, done) => sftp.unlink(path, done))
        .catch((error: unknown) => {
          if (statusOf(error) === SFTP_STATUS.NO_SUCH_FILE) return;
          throw this.fail(error, `cannot delete "${path}"`);
        });
    });
  }

  async deletePrefix(prefix: string, signal: AbortSignal): Promise<void> {
    const path = this.remotePath(prefix);
    await this.use(signal, (session) => this.removeTree(session, path, signal));
  }

  async *list(prefix: string, signal: AbortSignal): AsyncIterable<string> {
    const root = this.remotePath(prefix);
    this.begin();
    try {
      const session = await this.connection();
      const folders: string[] = [""];
      const found: string[] = [];
      const inFlight = new Set<Promise<void>>();
      let failure: unknown;
      // Reads up to WALK_PARALLELISM folders at once, yielding keys as they arrive.
      while (folders.length > 0 || inFlight.size > 0 || found.length > 0) {
        while (found.length > 0) {
          const relative = found.shift() as string;
          yield `${prefix}/${relative}`;
        }
        signal.throwIfAborted();
        while (folders.length > 0 && inFlight.size < WALK_PARALLELISM) {
          const relative = folders.shift() as string;
          const folder = relative === "" ? root : posix.join(root, relative);
          const task = this.readFolder(session, folder).then(async (entries) => {
            for (const entry of entries) {
              const child = relative === "" ? entry.filename : `${relative}/${entry.filename}`;
              const kind = await this.entryKind(session, folder, entry);
              if (kind === "file") found.push(child);
              else if (kind === "directory") folders.push(child);
            }
          });
          const tracked: Promise<void> = task
            .catch((error: unknown) => {
              failure ??= error;
            })
            .finally(() => inFlight.delete(tracked));
          inFlight.add(tracked);
        }
        if (inFlight.size > 0 && found.length === 0) await Promise.race(inFlight);
        if (failure) {
          await Promise.all(inFlight);
          throw failure;
        }
      }
    } finally {
      this.end();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.idleTimer);
    await this.disconnect();
  }

  /** Writes through `upload(temp)`, then renames the temp file onto `path`; removes the temp file on any failure. */
  private async atomically(
    session: Session,
    path: string,
    upload: (temp: string) => Promise<void>,
  ): Promise<void> {
    const temp = tempNameFor(path);
    try {
      await upload(temp);
      await this.renameOnto(session, temp, path);
    } catch (error) {
      await session.request<void>((sftp, done) => sftp.unlink(temp, done)).catch(() => undefined);
      throw this.fail(error, `cannot upload "${path}"`);
    }
  }

  private async renameOnto(session: Session, from: string, to: string): Promise<void> {
    try {
      await session.request<void>((sftp, done) => sftp.ext_openssh_rename(from, to, done));
      return;
    } catch (error) {
      if (!isUnsupportedExtension(error)) throw await this.renameError(session, error, to);
    }
    // Plain SFTP rename refuses to replace a file, so the old object goes first;
    // a reader can briefly find nothing at the key, never a partial file.
    await session
      .request<void>((sftp, done) => sftp.unlink(to, done))
      .catch((error: unknown) => {
        if (statusOf(error) !== SFTP_STATUS.NO_SUCH_FILE) throw error;
      });
    await session
      .request<void>((sftp, done) => sftp.rename(from, to, done))
      .catch(async (error: unknown) => {
        throw await this.renameError(session, error, to);
      });
  }

  private async renameError(session: Session, error: unknown, to: string): Promise<unknown> {
    const existing = await this.statPath(session, to).catch(() => undefined);
    if (existing?.isDirectory()) {
      return new DriverError("conflict", `cannot upload "${to}": a folder is at that path`, {
        cause: error,
      });
    }
    return error;
  }

  /** Opens `temp` for writing, creating its parent folders when missing. */
  private async openForWrite(session: Session, temp: string): Promise<Buffer> {
    const open = () => session.request<Buffer>((sftp, done) => sftp.open(temp, "w", done));
    try {
      return await open();
    } catch (error) {
      if (statusOf(error) !== SFTP_STATUS.NO_SUCH_FILE) throw error;
    }
    await this.mkdirs(session, posix.dirname(temp));
    return open();
  }

  private async ensureParent(session: Session, path: string): Promise<void> {
    const parent = posix.dirname(path);
    const stats = await this.statPath(session, parent);
    if (!stats) await this.mkdirs(session, parent);
  }

  /** `mkdir -p` that tolerates concurrent callers creating the same folders. */
  private async mkdirs(session: Session, folder: string): Promise<void> {
    if (folder === "." || folder === "/" || folder === "") return;
    try {
      await session.request<void>((sftp, done) => sftp.mkdir(folder, done));
      return;
    } catch (error) {
      const stats = await this.statPath(session, folder);
      if (stats?.isDirectory()) return;
      if (stats) {
        throw new DriverError(
          "conflict",
          `cannot create folder "${folder}": a file is at that path`,
          { cause: error },
        );
      }
      if (statusOf(error) !== SFTP_STATUS.NO_SUCH_FILE && statusOf(error) !== SFTP_STATUS.FAILURE) {
        throw this.fail(error, `cannot create folder "${folder}"`);
      }
    }
    await this.mkdirs(session, posix.dirname(folder));
    try {
      await session.request<void>((sftp, done) => sftp.mkdir(folder, done));
    } catch (error) {
      const stats = await this.statPath(session, folder);
      if (!stats?.isDirectory()) throw this.fail(error, `cannot create folder "${folder}"`);
    }
  }

  /** The attributes at `path` (symbolic links followed), or undefined when nothing is there. */
  private async statPath(session: Session, path: string): Promise<Stats | undefined> {
    try {
      return await session.request<Stats>((sftp, done) => sftp.stat(path, done));
    } catch (error) {
      if (statusOf(error) === SFTP_STATUS.NO_SUCH_FILE) return undefined;
      throw this.fail(error, `cannot look up "${path}"`);
    }
  }

  /** The entries of `folder` without `.`, `..` and upload temp files; none when it is missing. */
  private async readFolder(session: Session, folder: string): Promise<FileEntryWithStats[]> {
    try {
      const entries = await session.request<FileEntryWithStats[]>((sftp, done) =>
        sftp.readdir(folder, done),
      );
      return entries.filter(
        (entry) =>
          entry.filename !== "." && entry.filename !== ".." && !TEMP_NAME.test(entry.filename),
      );
    } catch (error) {
      if (statusOf(error) === SFTP_STATUS.NO_SUCH_FILE) return [];
      throw this.fail(error, `cannot list "${folder}"`);
    }
  }

  /** What a listed entry is; symbolic links count as what they point to. */
  private async entryKind(
    session: Session,
    folder: string,
    entry: FileEntryWithStats,
  ): Promise<Kind> {
    const mode = entry.attrs.mode;
    const S_IFMT = 0o170000;
    const type = mode & S_IFMT;
    if (type === 0o100000) return "file";
    if (type === 0o040000) return "directory";
    if (type !== 0o120000) return "other";
    const target = await this.statPath(session, posix.join(folder, entry.filename)).catch(
      () => undefined,
    );
    // Links to folders are not followed, so a link cycle cannot make a walk endless.
    return target?.isFile() ? "file" : "other";
  }

  /** Whether at least one object lies under `folder`, at any depth; stops at the first. */
  private async hasObjects(
    session: Session,
    folder: string,
    signal: AbortSignal,
  ): Promise<boolean> {
    signal.throwIfAborted();
    const entries = await this.readFolder(session, folder);
    const subfolders: string[] = [];
    for (const entry of entries) {
      const kind = await this.entryKind(session, folder, entry);
      if (kind === "file") return true;
      if (kind === "directory") subfolders.push(posix.join(folder, entry.filename));
    }
    for (const subfolder of subfolders) {
      if (await this.hasObjects(session, subfolder, signal)) return true;
    }
    return false;
  }

  /** `rm -r`: files of a folder in parallel, then its subfolders, then the folder. Missing is fine. */
  private async removeTree(session: Session, folder: string, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    let entries: FileEntryWithStats[];
    try {
      entries = await session.request<FileEntryWithStats[]>((sftp, done) =>
        sftp.readdir(folder, done),
      );
    } catch (error) {
      if (statusOf(error) === SFTP_STATUS.NO_SUCH_FILE) return;
      throw this.fail(error, `cannot list "${folder}"`);
    }
    const children = entries.filter((entry) => entry.filename !== "." && entry.filename !== "..");
    await pMap(
      children,
      async (entry) => {
        const path = posix.join(folder, entry.filename);
        if ((entry.attrs.mode & 0o170000) === 0o040000) {
          await this.removeTree(session, path, signal);
          return;
        }
        await session
          .request<void>((sftp, done) => sftp.unlink(path, done))
          .catch((error: unknown) => {
            if (statusOf(error) !== SFTP_STATUS.NO_SUCH_FILE)
              throw this.fail(error, `cannot delete "${path}"`);
          });
      },
      { concurrency: WALK_PARALLELISM },
    );
    await session
      .request<void>((sftp, done) => sftp.rmdir(folder, done))
      .catch((error: unknown) => {
        if (statusOf(error) !== SFTP_STATUS.NO_SUCH_FILE)
          throw this.fail(error, `cannot delete folder "${folder}"`);
      });
  }

  /** Runs `body` with a live session, counting it as activity for the idle timer. */
  private async use<T>(signal: AbortSignal, body: (session: Session) => Promise<T>): Promise<T> {
    this.begin();
    try {
      const session = await this.connection();
      signal.throwIfAborted();
      return await body(session);
    } finally {
      this.end();
    }
  }

  private begin(): void {
    if (this.closed)
      throw new DriverError("unavailable", `the SFTP adapter for ${this.where} is closed`);
    this.active++;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private end(): void {
    this.active--;
    if (this.active === 0 && !this.closed) {
      this.idleTimer = setTimeout(
        () => void this.disconnect(),
        this.options.idleMs ?? DEFAULT_IDLE_MS,
      );
      this.idleTimer.unref();
    }
  }

  /** The shared session, connecting (again) when there is none or it dropped. */
  private async connection(): Promise<Session> {
    const current = this.session;
    if (current) {
      const session = await current.catch(() => undefined);
      if (session && !session.closed) return session;
      if (this.session === current) this.session = undefined;
      if (this.session) return this.connection();
    }
    const { logger, ...rest } = this.options;
    const connecting = connect({
      host: rest.host,
      port: rest.port,
      username: rest.username,
      password: rest.password,
      privateKey: rest.privateKey && {
        text: rest.privateKey.text,
        passphrase: rest.privateKey.passphrase,
      },
      hostKey: rest.hostKey,
      connectTimeoutMs: rest.connectTimeoutMs,
      logger,
    });
    this.session = connecting;
    connecting.then(
      () => logger.debug({ host: rest.host, port: rest.port }, "SSH connection opened"),
      () => {
        if (this.session === connecting) this.session = undefined;
      },
    );
    return connecting;
  }

  private async disconnect(): Promise<void> {
    const current = this.session;
    this.session = undefined;
    const session = await current?.catch(() => undefined);
    if (session && !session.closed) {
      await session.end();
      this.options.logger.debug(
        { host: this.options.host, port: this.options.port },
        "SSH connection closed",
      );
    }
  }

  private fail(error: unknown, what: string): DriverError {
    return requestError(error, `${what} on ${this.where}`);
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

function isUnsupportedExtension(error: unknown): boolean {
  return (
    statusOf(error) === SFTP_STATUS.OP_UNSUPPORTED ||
    (error instanceof Error && error.message === "Server does not support this extended request")
  );
}
