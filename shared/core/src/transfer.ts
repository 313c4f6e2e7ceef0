import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { lstat, mkdir, opendir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, relative, sep } from "node:path";
import { pipeline } from "node:stream/promises";
import pMap from "p-map";
import type { StorageAdapter } from "./adapter.js";
import { DriverError } from "./errors.js";
import { checkRelativePath } from "./keys.js";
import { type RetryPolicy, withRetry } from "./retry.js";

/**
 * The local side of Load and Save: files and directory trees moved through an
 * adapter with bounded parallelism, retries of whole files, and temp names so
 * that a failure never leaves a partial file or tree where Argo expects one.
 */
export interface TransferContext {
  adapter: StorageAdapter;
  retry: RetryPolicy;
  parallelism: number;
  signal: AbortSignal;
  onRetry: (error: DriverError, attempt: number, delayMs: number) => void;
}

export interface TransferResult {
  bytes: number;
  files: number;
}

/** A sibling name for `path` that a crash leaves recognisable and never equal to `path`. */
function tempSibling(path: string): string {
  return join(dirname(path), `.${basename(path)}.partial-${randomBytes(4).toString("hex")}`);
}

/** Downloads the object at `key` into a temp file beside `path`, then renames it onto `path`. */
export async function loadFile(
  ctx: TransferContext,
  key: string,
  path: string,
): Promise<TransferResult> {
  const temp = tempSibling(path);
  try {
    await readObjectToFile(ctx, key, temp);
    const { size } = await stat(temp);
    await rename(temp, path);
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
  const temp = tempSibling(path);
  const result: TransferResult = { bytes: 0, files: 0 };
  try {
    await mkdir(temp);
    const prefix = `${key}/`;
    const folders = new Set<string>();
    await pMap(
      ctx.adapter.list(key, ctx.signal),
      async (objectKey) => {
        if (!objectKey.startsWith(prefix)) {
          throw new DriverError(
            "unknown",
            `the backend listed "${objectKey}", which is not under "${prefix}"`,
          );
        }
        // Folder markers (`key/sub/`) written by some tools carry no data.
        if (objectKey.endsWith("/")) return;
        const relativePath = checkRelativePath(objectKey.slice(prefix.length), key);
        const target = join(temp, ...relativePath.split("/"));
        const folder = dirname(target);
        if (!folders.has(folder)) {
          await mkdir(folder, { recursive: true });
          folders.add(folder);
        }
        await readObjectToFile(ctx, objectKey, target);
        result.bytes += (await stat(target)).size;
        result.files++;
      },
      { concurrency: ctx.parallelism, signal: ctx.signal },
    );
    await rename(temp, path);
    return result;
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
}

async function readObjectToFile(ctx: TransferContext, key: string, path: string): Promise<void> {
  const { adapter, signal } = ctx;
  await withRetry(
    ctx.retry,
    signal,
    async () => {
      if (adapter.readToFile) {
        await rm(path, { force: true });
        await adapter.readToFile(key, path, signal);
      } else {
        await pipeline(await adapter.read(key, signal), createWriteStream(path), { signal });
      }
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
): Promise<void> {
  const { adapter, signal } = ctx;
  await withRetry(
    ctx.retry,
    signal,
    async () => {
      if (adapter.writeFromFile) await adapter.writeFromFile(key, path, { size, signal });
      else await adapter.write(key, createReadStream(path), { size, signal });
    },
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
  await pMap(
    walkFiles(root),
    async ({ path, size }) => {
      const objectKey = `${key}/${relative(root, path).split(sep).join("/")}`;
      await saveFile(ctx, path, objectKey, size);
      written.add(objectKey);
      result.bytes += size;
      result.files++;
    },
    { concurrency: ctx.parallelism, signal: ctx.signal },
  );
  const stale: string[] = [];
  for await (const objectKey of ctx.adapter.list(key, ctx.signal)) {
    if (!written.has(objectKey)) stale.push(objectKey);
  }
  await pMap(
    stale,
    (objectKey) =>
      withRetry(
        ctx.retry,
        ctx.signal,
        () => ctx.adapter.delete(objectKey, ctx.signal),
        ctx.onRetry,
      ),
    { concurrency: ctx.parallelism, signal: ctx.signal },
  );
  return result;
}

/**
 * Regular files under `root`, at any depth. Symbolic links to files are
 * followed (their content is what the step produced); links to folders are
 * not, so a link cycle cannot make the walk endless.
 */
async function* walkFiles(root: string): AsyncGenerator<{ path: string; size: number }> {
  for await (const entry of await opendir(root, { recursive: true, bufferSize: 256 })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isFile()) {
      yield { path, size: (await lstat(path)).size };
    } else if (entry.isSymbolicLink()) {
      const target = await stat(path).catch(() => undefined);
      if (target?.isFile()) yield { path, size: target.size };
    }
  }
}
