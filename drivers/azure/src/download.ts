import { once } from "node:events";
import { PassThrough, type Readable } from "node:stream";
import { type AdapterContext, DriverError } from "@argo-artifact-drivers/core";
import type { BlobClient, BlobDownloadResponseParsed } from "@azure/storage-blob";
import { type Md5, md5For } from "./md5.js";

/**
 * Bytes buffered between the network and the reader. The core copies what it
 * reads into its own frames, so a frame-sized buffer here saved nothing, and
 * every open stream filled it before its turn in the core's frame budget: 64
 * concurrent OpenStreams of 8 MiB peaked at 723 MiB with 2 MiB.
 */
const HIGH_WATER_MARK = 256 * 1024;

export interface DownloadOptions {
  readonly blob: BlobClient;
  readonly name: string;
  readonly context: AdapterContext;
  readonly signal: AbortSignal;
  /** Translates SDK failures (with the blob named). */
  readonly fail: (error: unknown) => DriverError;
}

/**
 * Opens a blob as a stream that survives broken connections and checks the
 * blob's Content-MD5.
 *
 * The SDK does not resume a download whose connection breaks mid-body, so a
 * broken body is re-requested from the byte reached, with If-Match on the
 * first answer's ETag so that the pieces belong to one version of the blob.
 * Reopening runs under the user's retry policy; a piece that made progress
 * before breaking starts a fresh round of tries, so a long download is not
 * failed by a few resets spread over hours.
 *
 * Blobs uploaded in blocks have no service-computed MD5; this driver stores
 * one on upload (Content-MD5), and the bytes read are hashed and compared with
 * it at the end: a mismatch fails the stream, so nothing corrupt is kept.
 */
export async function openDownload(options: DownloadOptions): Promise<Readable> {
  const { blob, signal, fail } = options;
  // No retry here: the core retries opening the stream as a whole call.
  const first = await blob
    .download(0, undefined, { abortSignal: signal })
    .catch((error: unknown) => {
      throw fail(error);
    });
  const out = new PassThrough({ highWaterMark: HIGH_WATER_MARK });
  // The pump stops when the reader goes away as well as when the call is cancelled.
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  out.once("close", () => stop.abort());
  pump(options, first, out, stop.signal)
    .then(() => out.end())
    .catch((error: unknown) =>
      out.destroy(error instanceof Error ? error : new Error(String(error))),
    )
    .finally(() => signal.removeEventListener("abort", onAbort));
  return out;
}

async function pump(
  options: DownloadOptions,
  first: BlobDownloadResponseParsed,
  out: PassThrough,
  signal: AbortSignal,
): Promise<void> {
  const expected = first.contentMD5 ?? first.blobContentMD5;
  const hash = expected ? md5For(first.contentLength ?? 0) : undefined;
  try {
    await pumpPieces(options, first, out, signal, hash);
  } finally {
    hash?.close();
  }
}

async function pumpPieces(
  options: DownloadOptions,
  first: BlobDownloadResponseParsed,
  out: PassThrough,
  signal: AbortSignal,
  hash: Md5 | undefined,
): Promise<void> {
  const { blob, name, fail } = options;
  const size = first.contentLength ?? 0;
  const etag = first.etag;
  const expected = first.contentMD5 ?? first.blobContentMD5;
  let offset = 0;
  let body: NodeJS.ReadableStream | undefined = first.readableStreamBody;

  for (;;) {
    const outcome = await options.context.retry(
      async () => {
        const start = offset;
        if (!body) {
          const piece = await blob
            .download(offset, undefined, {
              abortSignal: signal,
              conditions: etag ? { ifMatch: etag } : {},
            })
            .catch((error: unknown) => {
              throw fail(error);
            });
          body = piece.readableStreamBody;
        }
        try {
          for await (const chunk of body ?? []) {
            const bytes = chunk as Buffer;
            await hash?.update(bytes);
            offset += bytes.length;
            if (!out.write(bytes)) await once(out, "drain", { signal });
          }
        } catch (error) {
          if (signal.aborted) throw error;
          body = undefined;
          const broken = new DriverError(
            "transient",
            `the connection broke after ${offset} of ${size} bytes of blob "${name}"`,
            { cause: error },
          );
          if (offset > start) return "resume";
          throw broken;
        }
        body = undefined;
        if (offset < size) {
          if (offset > start) return "resume";
          throw new DriverError(
            "transient",
            `the download of blob "${name}" ended after ${offset} of ${size} bytes`,
          );
        }
        return "done";
      },
      { signal },
    );
    if (outcome === "done") break;
  }

  if (offset !== size) {
    throw new DriverError(
      "unknown",
      `blob "${name}" returned ${offset} bytes where its length is ${size}`,
    );
  }
  if (expected && hash) {
    const actual = await hash.digest();
    if (!actual.equals(Buffer.from(expected))) {
      throw new DriverError(
        "unknown",
        `blob "${name}" is corrupt: its content hashes to MD5 ${actual.toString("base64")}, but its Content-MD5 is ${Buffer.from(expected).toString("base64")}`,
        {
          hint: "The stored blob changed after it was saved (or was corrupted): save the artifact again, or delete the blob.",
        },
      );
    }
  }
}
