import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import type { AdapterContext, DriverError } from "@argo-artifact-drivers/core";
import type { BlockBlobClient } from "@azure/storage-blob";
import type { AzureConfig } from "./driver.js";
import { md5File } from "./md5.js";

const MiB = 1024 * 1024;
/** Azure's limit of blocks in one blob. */
const MAX_BLOCKS = 50_000;
/** Blocks of a stream are held in memory until sent, so they stay this small whatever `blockSize` says. */
const STREAM_BLOCK_SIZE = 8 * MiB;

export interface UploadOptions {
  readonly blob: BlockBlobClient;
  readonly config: AzureConfig;
  readonly context: AdapterContext;
  readonly signal: AbortSignal;
  /** Translates SDK failures (with the blob named). */
  readonly fail: (error: unknown) => DriverError;
}

/**
 * A file up to `blockSize` goes as one Put Blob; a larger one as blocks read
 * straight from ranges of the file and staged in parallel, each retried alone,
 * then committed at once, so readers see the old blob or the new one and an
 * interrupted upload leaves only uncommitted blocks (discarded by the service).
 * The file's MD5, computed in a pass beside the staging, is stored as the
 * blob's Content-MD5, which the service does not compute for block uploads.
 */
export async function uploadFile(
  options: UploadOptions,
  path: string,
  size: number,
): Promise<void> {
  const blockSize = Math.max(options.config.blockSize, Math.ceil(size / MAX_BLOCKS));
  if (size <= blockSize) {
    const md5 = await md5File(path, size, options.signal);
    await single(options, () => createReadStream(path), size, md5);
    return;
  }
  const count = Math.ceil(size / blockSize);
  const ids = blockIds(count);
  const [md5] = await Promise.all([
    md5File(path, size, options.signal),
    options.context.parallel(
      ids.keys(),
      (index, { signal }) => {
        const start = index * blockSize;
        const length = Math.min(blockSize, size - start);
        return stage(options, ids[index] as string, signal, length, () =>
          createReadStream(path, { start, end: start + length - 1 }),
        );
      },
      { signal: options.signal, concurrency: options.config.uploadConcurrency },
    ),
  ]);
  await commit(options, ids, md5);
}

/**
 * A stream of unknown length is cut into blocks held in memory, at most
 * `uploadConcurrency` of them in flight; a stream that ends within the first
 * block goes as one Put Blob. Nothing is committed unless the stream ends
 * cleanly, so a cut stream leaves the key as it was.
 */
export async function uploadStream(options: UploadOptions, body: Readable): Promise<void> {
  const blockSize = Math.min(options.config.blockSize, STREAM_BLOCK_SIZE);
  const hash = createHash("md5");
  const blocks = cut(body, blockSize, hash)[Symbol.asyncIterator]();
  const first = await blocks.next();
  const second = first.done ? first : await blocks.next();
  if (second.done) {
    const chunks = first.done ? [] : first.value.chunks;
    const length = first.done ? 0 : first.value.length;
    await single(options, () => Readable.from(chunks), length, hash.digest());
    return;
  }
  const tag = uploadTag();
  const ids: string[] = [];
  async function* all(): AsyncGenerator<Block> {
    if (!first.done) yield first.value;
    if (!second.done) yield second.value;
    for (let next = await blocks.next(); !next.done; next = await blocks.next()) yield next.value;
  }
  await options.context.parallel(
    numbered(all()),
    ({ index, block }, { signal }) => {
      const id = blockId(tag, index);
      ids[index] = id;
      return stage(options, id, signal, block.length, () => Readable.from(block.chunks));
    },
    { signal: options.signal, concurrency: options.config.uploadConcurrency },
  );
  await commit(options, ids, hash.digest());
}

interface Block {
  chunks: Buffer[];
  length: number;
}

/** Cuts `body` into blocks of `blockSize` bytes (the last one shorter), hashing it in order. */
async function* cut(
  body: Readable,
  blockSize: number,
  hash: ReturnType<typeof createHash>,
): AsyncGenerator<Block> {
  let block: Block = { chunks: [], length: 0 };
  for await (const data of body) {
    let chunk = data as Buffer;
    hash.update(chunk);
    while (block.length + chunk.length >= blockSize) {
      const take = blockSize - block.length;
      block.chunks.push(chunk.subarray(0, take));
      block.length += take;
      yield block;
      block = { chunks: [], length: 0 };
      chunk = chunk.subarray(take);
    }
    if (chunk.length > 0) {
      block.chunks.push(chunk);
      block.length += chunk.length;
    }
  }
  if (block.length > 0) yield block;
}

async function* numbered<T>(items: AsyncIterable<T>): AsyncGenerator<{ index: number; block: T }> {
  let index = 0;
  for await (const block of items) yield { index: index++, block };
}

function single(
  options: UploadOptions,
  body: () => NodeJS.ReadableStream,
  length: number,
  md5: Buffer,
): Promise<unknown> {
  const { blob, config, signal } = options;
  return options.context.retry(
    () =>
      blob
        .upload(body, length, {
          abortSignal: signal,
          blobHTTPHeaders: { blobContentMD5: md5 },
          ...(config.accessTier ? { tier: config.accessTier } : {}),
        })
        .catch((error: unknown) => {
          throw options.fail(error);
        }),
    { signal },
  );
}

function stage(
  options: UploadOptions,
  id: string,
  signal: AbortSignal,
  length: number,
  body: () => NodeJS.ReadableStream,
): Promise<void> {
  return options.context.retry(
    async () => {
      try {
        await options.blob.stageBlock(id, body, length, { abortSignal: signal });
      } catch (error) {
        throw options.fail(error);
      }
    },
    { signal },
  );
}

function commit(options: UploadOptions, ids: string[], md5: Buffer): Promise<unknown> {
  const { blob, config, signal } = options;
  return options.context.retry(
    () =>
      blob
        .commitBlockList(ids, {
          abortSignal: signal,
          blobHTTPHeaders: { blobContentMD5: md5 },
          ...(config.accessTier ? { tier: config.accessTier } : {}),
        })
        .catch((error: unknown) => {
          throw options.fail(error);
        }),
    { signal },
  );
}

/**
 * Block IDs must all have the same length within a blob; a random tag per
 * upload keeps two uploads racing to the same key from mixing their blocks.
 */
function blockIds(count: number): string[] {
  const tag = uploadTag();
  return Array.from({ length: count }, (_, index) => blockId(tag, index));
}

function uploadTag(): string {
  return randomBytes(6).toString("hex");
}

function blockId(tag: string, index: number): string {
  return Buffer.from(`${tag}-${index.toString().padStart(6, "0")}`).toString("base64");
}
