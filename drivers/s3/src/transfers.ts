import { createReadStream, createWriteStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { DriverError, type WriteOptions } from "@argo-artifact-drivers/core";
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { asReadable, type Bucket } from "./bucket.js";

const MiB = 1024 * 1024;
/** S3 allows at most this many parts in one multipart upload. */
const MAX_PARTS = 10_000;
/** Parts of a stream are held in memory until sent, so they stay small whatever `partSize` says. */
const STREAM_PART_SIZE = 8 * MiB;
/** How long aborting a failed multipart upload may take once its call has failed or been cancelled. */
const CLEANUP_TIMEOUT_MS = 30_000;

/** One part of a multipart upload; `body` is called again for every try. */
interface Part {
  number: number;
  length: number;
  body: () => Readable | Buffer;
}

/**
 * A file up to `partSize` in one PutObject; a larger one in parts read
 * straight from ranges of the file, so memory does not depend on the part
 * size or concurrency, and a failed part is retried alone.
 */
export async function uploadFile(
  bucket: Bucket,
  key: string,
  filePath: string,
  { signal, size }: WriteOptions,
): Promise<void> {
  const total = size ?? (await stat(filePath)).size;
  const partSize = partSizeFor(bucket.config.partSize, total);
  if (total <= partSize) {
    await bucket.call(key, () =>
      bucket.client.send(
        new PutObjectCommand({
          Bucket: bucket.name,
          Key: key,
          Body: createReadStream(filePath),
          ContentLength: total,
          ...bucket.putOptions(),
        }),
        { abortSignal: signal },
      ),
    );
    return;
  }
  await multipart(bucket, key, fileParts(filePath, total, partSize), signal);
}

/**
 * A stream of unknown length is cut into parts held in memory (so they are
 * small), one PutObject when it fits in the first part. Buffered parts can be
 * sent again, so each is retried alone.
 */
export async function uploadStream(
  bucket: Bucket,
  key: string,
  body: Readable,
  { signal, size }: WriteOptions,
): Promise<void> {
  const partSize = partSizeFor(Math.min(bucket.config.partSize, STREAM_PART_SIZE), size);
  const chunks = cut(body, partSize)[Symbol.asyncIterator]();
  const first = await chunks.next();
  if (first.done || first.value.last) {
    const data = first.done ? Buffer.alloc(0) : first.value.data;
    await bucket.context.retry(
      () =>
        bucket.call(key, () =>
          bucket.client.send(
            new PutObjectCommand({
              Bucket: bucket.name,
              Key: key,
              Body: data,
              ContentLength: data.length,
              ...bucket.putOptions(),
            }),
            { abortSignal: signal },
          ),
        ),
      { signal },
    );
    return;
  }
  const rest = { [Symbol.asyncIterator]: () => chunks };
  async function* parts(): AsyncGenerator<Part> {
    let number = 1;
    yield bufferPart(number, first.value.data);
    for await (const { data } of rest) {
      number += 1;
      if (number > MAX_PARTS) {
        throw new DriverError(
          "unknown",
          `the stream is longer than S3's limit of ${MAX_PARTS} parts of ${partSize} bytes; save it from a file (Save), whose parts grow with its size`,
        );
      }
      yield bufferPart(number, data);
    }
  }
  await multipart(bucket, key, parts(), signal);
}

/**
 * Uploads `parts` at most `uploadConcurrency` at once, each retried alone, and
 * completes the upload; on any failure aborts it, once every part has stopped.
 */
async function multipart(
  bucket: Bucket,
  key: string,
  parts: Iterable<Part> | AsyncIterable<Part>,
  signal: AbortSignal,
): Promise<void> {
  const { client, context } = bucket;
  const { UploadId } = await bucket.call(key, () =>
    client.send(
      new CreateMultipartUploadCommand({ Bucket: bucket.name, Key: key, ...bucket.putOptions() }),
      { abortSignal: signal },
    ),
  );
  const completed: CompletedPart[] = [];
  try {
    await context.parallel(
      parts,
      async (part, { signal }) => {
        const { ETag } = await context.retry(
          () =>
            bucket.call(key, () =>
              client.send(
                new UploadPartCommand({
                  Bucket: bucket.name,
                  Key: key,
                  UploadId,
                  PartNumber: part.number,
                  Body: part.body(),
                  ContentLength: part.length,
                  ...bucket.sse.read,
                }),
                { abortSignal: signal },
              ),
            ),
          { signal },
        );
        completed[part.number - 1] = { ETag, PartNumber: part.number };
      },
      { signal, concurrency: bucket.config.uploadConcurrency },
    );
    await bucket.call(key, () =>
      client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket.name,
          Key: key,
          UploadId,
          MultipartUpload: { Parts: completed },
          ...bucket.sse.read,
        }),
        { abortSignal: signal },
      ),
    );
  } catch (error) {
    // parallel() has waited for every part, so none can land after the abort.
    // Best effort: an upload left behind is invisible, and lifecycle rules reap it.
    await client
      .send(new AbortMultipartUploadCommand({ Bucket: bucket.name, Key: key, UploadId }), {
        abortSignal: AbortSignal.timeout(CLEANUP_TIMEOUT_MS),
      })
      .catch(() => undefined);
    throw error;
  }
}

/**
 * Ranges of `partSize` of one object version (If-Match its ETag), at most
 * `downloadConcurrency` at once, each written into place in a file of the
 * object's size and retried alone. The caller removes the file on failure:
 * parallel() returns only once no range writes any more.
 */
export async function downloadRanges(
  bucket: Bucket,
  key: string,
  filePath: string,
  object: { size: number; etag: string },
  signal: AbortSignal,
): Promise<void> {
  const { client, context } = bucket;
  const file = await open(filePath, "w");
  await file.truncate(object.size).finally(() => file.close());
  await context.parallel(
    ranges(object.size, bucket.config.partSize),
    (range, { signal }) =>
      context.retry(
        () =>
          bucket.call(key, async () => {
            const part = await client.send(
              new GetObjectCommand({
                Bucket: bucket.name,
                Key: key,
                Range: `bytes=${range.start}-${range.end}`,
                IfMatch: object.etag,
                ...bucket.sse.read,
              }),
              { abortSignal: signal },
            );
            await pipeline(
              asReadable(part.Body, key),
              createWriteStream(filePath, { flags: "r+", start: range.start }),
              { signal },
            );
          }),
        { signal },
      ),
    { signal, concurrency: bucket.config.downloadConcurrency },
  );
}

/** `preferred`, grown when `size` bytes would need more than 10,000 parts. */
function partSizeFor(preferred: number, size: number | undefined): number {
  return Math.max(preferred, size === undefined ? 0 : Math.ceil(size / MAX_PARTS));
}

function* fileParts(filePath: string, total: number, partSize: number): Generator<Part> {
  for (let number = 1, start = 0; start < total; number++, start += partSize) {
    const end = Math.min(total, start + partSize) - 1;
    yield {
      number,
      length: end - start + 1,
      body: () => createReadStream(filePath, { start, end }),
    };
  }
}

function bufferPart(number: number, data: Buffer): Part {
  return { number, length: data.length, body: () => data };
}

function* ranges(size: number, rangeSize: number): Generator<{ start: number; end: number }> {
  for (let start = 0; start < size; start += rangeSize) {
    yield { start, end: Math.min(size, start + rangeSize) - 1 };
  }
}

/**
 * `body` in buffers of exactly `size` bytes (the last one shorter or empty),
 * each marked `last` when the stream has ended after it. A part is handed out
 * only once a byte beyond it has arrived, so `last` is known without reading
 * a whole part ahead.
 */
export async function* cut(
  body: AsyncIterable<Buffer | string>,
  size: number,
): AsyncGenerator<{ data: Buffer; last: boolean }> {
  let pending: Buffer[] = [];
  let length = 0;
  for await (const chunk of body) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    pending.push(buffer);
    length += buffer.length;
    while (length > size) {
      const data = Buffer.allocUnsafe(size);
      let filled = 0;
      while (filled < size) {
        const head = pending[0] as Buffer;
        const taken = Math.min(head.length, size - filled);
        head.copy(data, filled, 0, taken);
        filled += taken;
        if (taken === head.length) pending.shift();
        else pending[0] = head.subarray(taken);
      }
      length -= size;
      yield { data, last: false };
    }
  }
  const data = Buffer.concat(pending, length);
  pending = [];
  yield { data, last: true };
}
