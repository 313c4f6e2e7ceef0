import { posix } from "node:path";
import type { AdapterContext, FolderEntry } from "@argo-artifact-drivers/core";
import type { FileEntryWithStats } from "ssh2";
import type { Session } from "./connection.js";
import { SFTP_STATUS, statusOf } from "./errors.js";
import { removeFile } from "./files.js";

// File type bits of an SFTP `mode` (readdir reports links as links, not what they point to).
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;

/** The entries of `folder` without `.` and `..`; none when it is missing or not a folder. */
async function readFolder(session: Session, folder: string): Promise<FileEntryWithStats[]> {
  try {
    const entries = await session.request<FileEntryWithStats[]>((sftp, done) =>
      sftp.readdir(folder, done),
    );
    return entries.filter((entry) => entry.filename !== "." && entry.filename !== "..");
  } catch (error) {
    if (statusOf(error) === SFTP_STATUS.NO_SUCH_FILE) return [];
    throw session.fail(error, `cannot list "${folder}"`);
  }
}

/** Regular files and folders directly in `folder`; symbolic links and special files are left out. */
export async function listFolder(session: Session, folder: string): Promise<FolderEntry[]> {
  const found: FolderEntry[] = [];
  for (const entry of await readFolder(session, folder)) {
    const type = entry.attrs.mode & S_IFMT;
    if (type === S_IFREG) found.push({ name: entry.filename, kind: "file" });
    else if (type === S_IFDIR) found.push({ name: entry.filename, kind: "directory" });
  }
  return found;
}

/**
 * `rm -r root`, one depth at a time: the folders of a depth are read, then
 * every file, link and special file found there is removed, at most
 * `parallelism` requests at once; the folders go last, deepest first, once
 * empty. A missing root is fine. Links are removed, never followed.
 */
export async function removeTree(
  session: Session,
  root: string,
  parallel: AdapterContext["parallel"],
  signal: AbortSignal,
): Promise<void> {
  const depths: string[][] = [];
  for (let folders = [root]; folders.length > 0; ) {
    depths.push(folders);
    const subfolders: string[] = [];
    const files: string[] = [];
    await parallel(
      folders,
      async (folder) => {
        for (const entry of await readFolder(session, folder)) {
          const path = posix.join(folder, entry.filename);
          ((entry.attrs.mode & S_IFMT) === S_IFDIR ? subfolders : files).push(path);
        }
      },
      { signal },
    );
    await parallel(files, (path) => removeFile(session, path), { signal });
    folders = subfolders;
  }
  for (const folders of depths.reverse()) {
    await parallel(folders, (folder) => removeFolder(session, folder), { signal });
  }
}

async function removeFolder(session: Session, folder: string): Promise<void> {
  await session
    .request<void>((sftp, done) => sftp.rmdir(folder, done))
    .catch((error: unknown) => {
      if (statusOf(error) !== SFTP_STATUS.NO_SUCH_FILE)
        throw session.fail(error, `cannot delete folder "${folder}"`);
    });
}
