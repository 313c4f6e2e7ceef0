import { open } from "node:fs/promises";
import { posix } from "node:path";
import type { Readable } from "node:stream";
import {
  type AdapterContext,
  DriverError,
  isAbortError,
  type WriteOptions,
} from "@argo-artifact-drivers/core";
import type { Stats } from "ssh2";
import type { Session } from "./connection.js";
import { SFTP_STATUS, statusOf } from "./errors.js";
import {
  PipelinedReadStream,
  pipelinedDownload,
  pipelinedUpload,
  pipelinedWrite,
} from "./transfer.js";

// Object operations on remote paths, one file each, over one live session.

/** The attributes at `path` (symbolic links followed), or undefined when nothing is there. */
export async function statPath(session: Session, path: string): Promise<Stats | undefined> {
  try {
    return await session.request<Stats>((sftp, done) => sftp.stat(path, done));
  } catch (error) {
    if (statusOf(error) === SFTP_STATUS.NO_SUCH_FILE) return undefined;
    throw session.fail(error, `cannot look up "${path}"`);
  }
}

/** Opens the regular file at `path` for reading; `not-found` for folders and special files. */
async function openObject(
  session: Session,
  path: string,
): Promise<{ handle: Buffer; size: number }> {
  const handle = await session
    .request<Buffer>((sftp, done) => sftp.open(path, "r", done))
    .catch((error: unknown) => {
      throw session.fail(error, `cannot open "${path}"`);
    });
  try {
    const stats = await session.request<Stats>((sftp, done) => sftp.fstat(handle, done));
    if (!stats.isFile()) {
      throw new DriverError(
        "not-found",
        `"${path}" is a ${stats.isDirectory() ? "folder" : "special file"}, not an object`,
      );
    }
    return { handle, size: stats.size };
  } catch (error) {
    await closeHandle(session, handle).catch(() => undefined);
    throw session.fail(error, `cannot read "${path}"`);
  }
}

/** The bytes of the regular file at `path`, as a stream that closes the remote file when it ends. */
export async function openForRead(session: Session, path: string): Promise<Readable> {
  const { handle, size } = await openObject(session, path);
  return new PipelinedReadStream(session, handle, size, path, (error) =>
    session.fail(error, `cannot read "${path}"`),
  );
}

/** Copies the regular file at `path` into the new local file `filePath`. */
export async function downloadFile(
  session: Session,
  path: string,
  filePath: string,
  parallel: AdapterContext["parallel"],
  signal: AbortSignal,
): Promise<void> {
  const { handle, size } = await openObject(session, path);
  try {
    const local = await open(filePath, "w");
    try {
      await pipelinedDownload(session, handle, size, local, path, parallel, signal);
    } finally {
      await local.close();
    }
  } catch (error) {
    throw isAbortError(error) ? error : session.fail(error, `cannot download "${path}"`);
  } finally {
    await closeHandle(session, handle).catch(() => undefined);
  }
}

/** Copies the local file `filePath` to `path` in place, replacing any file there and creating parent folders. */
export async function uploadFile(
  session: Session,
  path: string,
  filePath: string,
  parallel: AdapterContext["parallel"],
  signal: AbortSignal,
): Promise<void> {
  const local = await open(filePath, "r");
  try {
    const { size } = await local.stat();
    const handle = await openForWrite(session, path);
    try {
      await pipelinedUpload(session, handle, size, local, parallel, signal);
    } catch (error) {
      await closeHandle(session, handle).catch(() => undefined);
      throw isAbortError(error) ? error : session.fail(error, `cannot write "${path}"`);
    }
    await closeHandle(session, handle).catch((error: unknown) => {
      throw session.fail(error, `cannot finish writing "${path}"`);
    });
  } finally {
    await local.close();
  }
}

/** Writes `body` to `path` in place, replacing any file there and creating parent folders. */
export async function writeFile(
  session: Session,
  path: string,
  body: Readable,
  { signal, size }: WriteOptions,
): Promise<void> {
  const handle = await openForWrite(session, path);
  let written: number;
  try {
    written = await pipelinedWrite(session, handle, body, signal);
  } catch (error) {
    await closeHandle(session, handle).catch(() => undefined);
    throw isAbortError(error) ? error : session.fail(error, `cannot write "${path}"`);
  }
  await closeHandle(session, handle).catch((error: unknown) => {
    throw session.fail(error, `cannot finish writing "${path}"`);
  });
  if (size !== undefined && written !== size) {
    throw new DriverError(
      "transient",
      `the upload to "${path}" got ${written} bytes, ${size} expected`,
    );
  }
}

/**
 * Renames `from` onto `to`, replacing the file there, with OpenSSH's
 * `posix-rename@openssh.com` (one atomic step) where the server has it.
 */
export async function move(session: Session, from: string, to: string): Promise<void> {
  try {
    await session.request<void>((sftp, done) => sftp.ext_openssh_rename(from, to, done));
    return;
  } catch (error) {
    if (!isUnsupportedExtension(error)) throw await moveError(session, error, to);
  }
  // Plain SFTP rename refuses to replace a file, so the old object goes first;
  // a reader can briefly find nothing at the key, never a partial file.
  await removeFile(session, to);
  await session
    .request<void>((sftp, done) => sftp.rename(from, to, done))
    .catch(async (error: unknown) => {
      throw await moveError(session, error, to);
    });
}

/** Removes the file at `path`; a missing file is fine. */
export async function removeFile(session: Session, path: string): Promise<void> {
  await session
    .request<void>((sftp, done) => sftp.unlink(path, done))
    .catch((error: unknown) => {
      if (statusOf(error) !== SFTP_STATUS.NO_SUCH_FILE)
        throw session.fail(error, `cannot delete "${path}"`);
    });
}

function closeHandle(session: Session, handle: Buffer): Promise<void> {
  return session.request<void>((sftp, done) => sftp.close(handle, done));
}

async function moveError(session: Session, error: unknown, to: string): Promise<DriverError> {
  const existing = await statPath(session, to).catch(() => undefined);
  if (existing?.isDirectory()) {
    return new DriverError("conflict", `cannot replace "${to}": a folder is at that path`, {
      cause: error,
    });
  }
  return session.fail(error, `cannot move an upload onto "${to}"`);
}

function isUnsupportedExtension(error: unknown): boolean {
  return (
    statusOf(error) === SFTP_STATUS.OP_UNSUPPORTED ||
    (error instanceof Error && error.message === "Server does not support this extended request")
  );
}

/** Opens `path` for writing (truncating it), creating its parent folders when missing. */
async function openForWrite(session: Session, path: string): Promise<Buffer> {
  const open = () => session.request<Buffer>((sftp, done) => sftp.open(path, "w", done));
  try {
    return await open();
  } catch (error) {
    if (statusOf(error) !== SFTP_STATUS.NO_SUCH_FILE)
      throw session.fail(error, `cannot create "${path}"`);
  }
  await makeFolders(session, posix.dirname(path));
  return open().catch((error: unknown) => {
    throw session.fail(error, `cannot create "${path}"`);
  });
}

/** `mkdir -p` that tolerates concurrent callers creating the same folders. */
async function makeFolders(session: Session, folder: string): Promise<void> {
  if (folder === "." || folder === "/" || folder === "") return;
  const mkdir = () => session.request<void>((sftp, done) => sftp.mkdir(folder, done));
  try {
    await mkdir();
    return;
  } catch (error) {
    const stats = await statPath(session, folder);
    if (stats?.isDirectory()) return;
    if (stats) {
      throw new DriverError(
        "conflict",
        `cannot create folder "${folder}" on ${session.where}: a file is at that path`,
        { cause: error },
      );
    }
    const status = statusOf(error);
    if (status !== SFTP_STATUS.NO_SUCH_FILE && status !== SFTP_STATUS.FAILURE)
      throw session.fail(error, `cannot create folder "${folder}"`);
  }
  // The parent is missing too: create it, then this one (another caller may win the race).
  await makeFolders(session, posix.dirname(folder));
  try {
    await mkdir();
  } catch (error) {
    const stats = await statPath(session, folder);
    if (!stats?.isDirectory()) throw session.fail(error, `cannot create folder "${folder}"`);
  }
}
