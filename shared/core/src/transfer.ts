import { lstat, mkdir, open, opendir, realpath, rename, rm, stat } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { DriverError, LOCAL_PATH_HINT, localPathError } from "./errors.js";
import { checkRelativePath } from "./keys.js";
import { parallel } from "./parallel.js";
import { type RetryListener, type RetryPolicy, withRetry } from "./retry.js";
import type { Storage } from "./storage.js";
import { tempSibling } from "./temp-names.js";

/**
 * The local side of Load and Save: files and directory trees moved through
 * storage with bounded parallelism, retries of whole files, and temp names so
 * that a failure never leaves a partial file or tree where Argo expects one.
 */
export interface TransferContext {
  storage: Storage;
  retry: RetryPolicy;
  parallelism: number;
  signal: AbortSignal;
  onRetry: RetryListener;
}

export interface TransferResult {
  bytes: number;
  files: number;
}

/** Downloads the object at `key` into a temp file beside `path`, then renames it onto `path`. */
export async function loadFile(
  ctx: TransferContext,
  key: string,
  path: string,
): Promise<TransferResult> {
  const temp = tempSibling(path, sep);
  // Created here first, so that a folder the plugin cannot write is reported
  // as the local problem it is, not as the adapter's failure to download.
  await open(temp, "wx")
    .then((file) => file.close())
    .catch(local(`cannot create a file beside "${path}"`));
  try {
    await readObjectToFile(ctx, key, temp, ctx.signal);
    const { size } = await stat(temp).catch(local(`cannot read the downloaded file "${temp}"`));
    await rename(temp, path).catch(local(`cannot move the downloaded file onto "${path}"`));
    return { bytes: size, files: 1 };
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** Recreates the tree under `key/` in a temp folder beside `path`, then renames it onto `path`. */
export async function loadTree(
  ctx: TransferContext,
  key: string,
  path: string,
): Promise<TransferResult> {
  const temp = tempSibling(path, sep);
  const result: TransferResult = { bytes: 0, files: 0 };
  const prefix = `${key}/`;
  try {
    await mkdir(temp).catch(local(`cannot create a folder beside "${path}"`));
    await parallel(
      ctx.storage.files(key, { signal: ctx.signal }),
      async (objectKey, { signal }) => {
        const relativePath = checkRelativePath(objectKey.slice(prefix.length), key);
        const target = join(temp, ...relativePath.split("/"));
        await mkdir(dirname(target), { recursive: true }).catch(
          local(`cannot create the folder of "${target}"`),
        );
        await readObjectToFile(ctx, objectKey, target, signal);
        // Read the size first: `+=` across an await would lose parallel updates.
        const { size } = await stat(target);
        result.bytes += size;
        result.files++;
      },
      { signal: ctx.signal, concurrency: ctx.parallelism },
    );
    await rename(temp, path).catch(local(`cannot move the downloaded folder onto "${path}"`));
    return result;
  } catch (error) {
    // parallel() has waited for every download, so nothing writes here any more.
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
}

async function readObjectToFile(
  ctx: TransferContext,
  key: string,
  path: string,
  signal: AbortSignal,
): Promise<void> {
  await withRetry(
    ctx.retry,
    signal,
    async () => {
      await rm(path, { force: true });
      await ctx.storage.readToFile(key, path, { signal });
    },
    ctx.onRetry,
  );
}

/** Uploads one local file to `key`; retried whole, since a file can be read again. */
export async function saveFile(
  ctx: TransferContext,
  path: string,
  key: string,
  size: number,
  signal = ctx.signal,
): Promise<void> {
  await withRetry(
    ctx.retry,
    signal,
    () => ctx.storage.writeFromFile(key, path, { size, signal }),
    ctx.onRetry,
  );
}

/**
 * Uploads every file under `root` to `key/<relative path>`, then removes
 * objects under `key/` that the new tree does not have, so that saving over
 * an existing directory replaces it.
 */
export async function saveTree(
  ctx: TransferContext,
  root: string,
  key: string,
): Promise<TransferResult> {
  const result: TransferResult = { bytes: 0, files: 0 };
  const written = new Set<string>();
  // Listed before anything is uploaded, so a refused link uploads nothing.
  const files = await Array.fromAsync(localFiles(root));
  await parallel(
    files,
    async ({ path, size }, { signal }) => {
      const objectKey = `${key}/${relative(root, path).split(sep).join("/")}`;
      await saveFile(ctx, path, objectKey, size, signal);
      written.add(objectKey);
      result.bytes += size;
      result.files++;
    },
    { signal: ctx.signal, concurrency: ctx.parallelism },
  );
  const stale: string[] = [];
  for await (const objectKey of ctx.storage.files(key, { signal: ctx.signal })) {
    if (!written.has(objectKey)) stale.push(objectKey);
  }
  await parallel(
    stale,
    (objectKey, { signal }) =>
      withRetry(ctx.retry, signal, () => ctx.storage.delete(objectKey, { signal }), ctx.onRetry),
    { signal: ctx.signal, concurrency: ctx.parallelism },
  );
  return result;
}

/**
 * Regular files under `root`, at any depth. A symbolic link is saved as the
 * content of the file it points to when that file is inside `root`; a link
 * that leaves `root`, points to a folder or points nowhere is refused, so a
 * step cannot make the plugin upload files of its own container.
 */
export async function* localFiles(root: string): AsyncGenerator<{ path: string; size: number }> {
  const realRoot = await realpath(root);
  for await (const entry of await opendir(root, { recursive: true, bufferSize: 256 })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isFile()) {
      yield { path, size: (await lstat(path)).size };
    } else if (entry.isSymbolicLink()) {
      yield { path, size: await linkedFileSize(realRoot, root, path) };
    }
  }
}

async function linkedFileSize(realRoot: string, root: string, link: string): Promise<number> {
  const name = relative(root, link);
  const refuse = (why: string) =>
    new DriverError("conflict", `the symbolic link "${name}" in the saved folder ${why}`, {
      hint: `${LOCAL_PATH_HINT} Replace the link with a copy of what it points to, or save the folder as an archive (Argo's default, tar).`,
    });
  const resolved = await realpath(link).catch(() => undefined);
  if (resolved === undefined) throw refuse("points to nothing");
  if (resolved !== realRoot && !resolved.startsWith(realRoot + sep)) {
    throw refuse("points outside the folder; only links to files inside it are saved");
  }
  const target = await stat(resolved);
  if (!target.isFile()) throw refuse("points to a folder; only links to files are followed");
  return target.size;
}

/** A catch handler that rethrows a local file system failure with the local hint. */
function local(what: string): (error: unknown) => never {
  return (error) => {
    throw localPathError(error, what);
  };
}
