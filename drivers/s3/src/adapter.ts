import { createReadStream, createWriteStream } from "node:fs";
import { open, rm, stat } from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  type AdapterContext,
  DriverError,
  type StorageAdapter,
  type WriteOptions,
} from "@argo-artifact-drivers/core";
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import pMap from "p-map";
import { createClient, type Endpoint, resolveEndpoint } from "./client.js";
import type { S3Config } from "./driver.js";
import { translate } from "./errors.js";
import { type Encryption, encryption } from "./sse.js";

/** S3 allows at most this many parts in one multipart upload. */
const MAX_PARTS = 10_000;
/** Parts of a stream are buffered in memory, so they stay small whatever `partSize` says. */
const STREAM_PART_SIZE = 8 * 1024 * 1024;
/** Tries of one part of a file upload; a part is re-read from the file, so it can be retried alone. */
const PART_ATTEMPTS = 3;

/** Keys are object keys in one bucket; a directory is the prefix `key/`. */
export class S3Adapter implements StorageAdapter {
  readonly target: string;

  private constructor(
    private readonly client: S3Client,
    private readonly config: S3Config,
    private readonly endpoint: Endpoint,
    private readonly sse: Encryption,
  ) {
    this.target = `bucket "${config.bucket}" at ${endpoint.display}`;
  }

  static async create(config: S3Config, context: AdapterContext): Promise<S3Adapter> {
    const endpoint = resolveEndpoint(config);
    const sse = encryption(config, context);
    const client = createClient(config, endpoint, context);
    const adapter = new S3Adapter(client, config, endpoint, sse);
    if (config.createBucketIfNotPresent) {
      try {
        await adapter.createBucket(config.createBucketIfNotPresent.objectLocking);
      } catch (error) {
        client.destroy();
        throw error;
      }
    }
    return adapter;
  }

  async stat(key: string, signal: AbortSignal): Promise<"file" | "directory" | "missing"> {
    try {
      await this.head(key, signal);
      return "file";
    } catch (error) {
      if (!(error instanceof DriverError) || error.code !== "not-found") throw error;
    }
    const page = await this.call(key, () =>
      this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${key}/`, MaxKeys: 1 }),
        { abortSignal: signal },
      ),
    );
    return (page.KeyCount ?? page.Contents?.length ?? 0) > 0 ? "directory" : "missing";
  }

  async read(key: string, signal: AbortSignal): Promise<Readable> {
    const object = await this.call(key, () =>
      this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, ...this.sse.read }), {
        abortSignal: signal,
      }),
    );
    return asReadable(object.Body, key);
  }

  /** Streams of unknown length go through lib-storage: parts are buffered, `uploadConcurrency` at a time. */
  async write(key: string, body: Readable, options: WriteOptions): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: body, ...this.putOptions() },
      partSize: this.partSizeFor(options.size, Math.min(this.config.partSize, STREAM_PART_SIZE)),
      queueSize: this.config.uploadConcurrency,
      leavePartsOnError: false,
    });
    const abort = () => void upload.abort().catch(() => undefined);
    options.signal.addEventListener("abort", abort, { once: true });
    try {
      await upload.done();
    } catch (error) {
      throw this.fail(error, key);
    } finally {
      options.signal.removeEventListener("abort", abort);
    }
  }

  /**
   * Files upload their parts straight from ranges of the file, so memory does
   * not depend on the part size or concurrency, and a failed part is retried
   * alone instead of restarting the whole file.
   */
  async writeFromFile(key: string, filePath: string, options: WriteOptions): Promise<void> {
    const total = options.size ?? (await stat(filePath)).size;
    const partSize = this.partSizeFor(total);
    if (total <= partSize) {
      await this.call(key, () =>
        this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: createReadStream(filePath),
            ContentLength: total,
            ...this.putOptions(),
          }),
          { abortSignal: options.signal },
        ),
      );
      return;
    }
    const { UploadId } = await this.call(key, () =>
      this.client.send(
        new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ...this.putOptions() }),
        { abortSignal: options.signal },
      ),
    );
    try {
      const count = Math.ceil(total / partSize);
      const parts: CompletedPart[] = new Array(count);
      await pMap(
        indexes(count),
        async (index) => {
          const start = index * partSize;
          const length = Math.min(partSize, total - start);
          const { ETag } = await this.retryPart(() =>
            this.call(key, () =>
              this.client.send(
                new UploadPartCommand({
                  Bucket: this.bucket,
                  Key: key,
                  UploadId,
                  PartNumber: index + 1,
                  Body: createReadStream(filePath, { start, end: start + length - 1 }),
                  ContentLength: length,
                  ...this.sse.read,
                }),
                { abortSignal: options.signal },
              ),
            ),
          );
          parts[index] = { ETag, PartNumber: index + 1 };
        },
        { concurrency: this.config.uploadConcurrency },
      );
      await this.call(key, () =>
        this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId,
            MultipartUpload: { Parts: parts },
            ...this.sse.read,
          }),
          { abortSignal: options.signal },
        ),
      );
    } catch (error) {
      // Best effort: an upload left behind is invisible, and lifecycle rules reap it.
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId }))
        .catch(() => undefined);
      throw error;
    }
  }

  /** Large objects download as parallel ranged GETs of one object version (If-Match its ETag). */
  async readToFile(key: string, filePath: string, signal: AbortSignal): Promise<void> {
    const head = await this.head(key, signal);
    const size = head.ContentLength ?? 0;
    const rangeSize = this.config.partSize;
    try {
      if (size <= rangeSize || this.config.downloadConcurrency === 1 || !head.ETag) {
        await pipeline(await this.read(key, signal), createWriteStream(filePath), { signal });
        return;
      }
      const file = await open(filePath, "w");
      await file.truncate(size).finally(() => file.close());
      await pMap(
        indexes(Math.ceil(size / rangeSize)),
        async (index) => {
          const start = index * rangeSize;
          const end = Math.min(size, start + rangeSize) - 1;
          const part = await this.call(key, () =>
            this.client.send(
              new GetObjectCommand({
                Bucket: this.bucket,
                Key: key,
                Range: `bytes=${start}-${end}`,
                IfMatch: head.ETag,
                ...this.sse.read,
              }),
              { abortSignal: signal },
            ),
          );
          await pipeline(
            asReadable(part.Body, key),
            createWriteStream(filePath, { flags: "r+", start }),
            { signal },
          );
        },
        { concurrency: this.config.downloadConcurrency },
      );
    } catch (error) {
      await rm(filePath, { force: true });
      throw this.fail(error, key);
    }
  }

  async delete(key: string, signal: AbortSignal): Promise<void> {
    await this.call(key, () =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }), {
        abortSignal: signal,
      }),
    );
  }

  /** Deletes page by page: each listing page (at most 1,000 keys) is one DeleteObjects call. */
  async deletePrefix(prefix: string, signal: AbortSignal): Promise<void> {
    for await (const keys of this.pages(`${prefix}/`, signal)) {
      if (keys.length === 0) continue;
      const result = await this.call(prefix, () =>
        this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
          }),
          { abortSignal: signal },
        ),
      );
      const failed = result.Errors?.[0];
      if (failed) {
        throw this.fail(
          Object.assign(new Error(failed.Message ?? "DeleteObjects failed"), {
            name: failed.Code ?? "Unknown",
            Code: failed.Code,
          }),
          failed.Key ?? prefix,
        );
      }
    }
  }

  async *list(prefix: string, signal: AbortSignal): AsyncIterable<string> {
    for await (const keys of this.pages(`${prefix}/`, signal)) {
      // Zero-byte "folder" markers (made by consoles and some tools) are not files.
      for (const key of keys) if (!key.endsWith("/")) yield key;
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private get bucket(): string {
    return this.config.bucket;
  }

  /**
   * HEAD answers carry no error body, so a refusal does not say why; one
   * listing call then gets the reason (a wrong secret key, an unknown key ID).
   */
  private async head(key: string, signal: AbortSignal) {
    try {
      return await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: key, ...this.sse.read }),
        { abortSignal: signal },
      );
    } catch (error) {
      const failure = this.fail(error, key);
      if (failure.code === "permission-denied") {
        await this.call(key, () =>
          this.client.send(
            new ListObjectsV2Command({ Bucket: this.bucket, Prefix: key, MaxKeys: 1 }),
            { abortSignal: signal },
          ),
        );
      }
      throw failure;
    }
  }

  private async *pages(prefix: string, signal: AbortSignal): AsyncIterable<string[]> {
    let ContinuationToken: string | undefined;
    do {
      const page = await this.call(prefix.slice(0, -1), () =>
        this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken }),
          { abortSignal: signal },
        ),
      );
      yield (page.Contents ?? []).flatMap((object) => (object.Key ? [object.Key] : []));
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  private async createBucket(objectLocking: boolean): Promise<void> {
    const signal = AbortSignal.timeout(60_000);
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), {
        abortSignal: signal,
      });
      return;
    } catch (error) {
      const failure = this.fail(error);
      if (failure.code !== "not-found") throw failure;
    }
    try {
      await this.client.send(
        new CreateBucketCommand({
          Bucket: this.bucket,
          ObjectLockEnabledForBucket: objectLocking || undefined,
          // us-east-1 is the one region that refuses its own name as a constraint.
          ...(this.endpoint.aws && this.config.region !== "us-east-1"
            ? { CreateBucketConfiguration: { LocationConstraint: this.config.region as never } }
            : {}),
        }),
        { abortSignal: signal },
      );
    } catch (error) {
      const name = (error as { name?: string }).name;
      // Another pod created it first.
      if (name === "BucketAlreadyOwnedByYou") return;
      const failure = this.fail(error);
      throw new DriverError(
        failure.code,
        `cannot create the bucket "${this.bucket}" (createBucketIfNotPresent): ${failure.message}`,
        { cause: failure.cause },
      );
    }
  }

  private putOptions() {
    return {
      ...this.sse.write,
      ...(this.config.storageClass ? { StorageClass: this.config.storageClass as never } : {}),
    };
  }

  /** The configured part size, grown when a file would need more than 10,000 parts. */
  private partSizeFor(size: number | undefined, preferred = this.config.partSize): number {
    const minimum = size === undefined ? 0 : Math.ceil(size / MAX_PARTS);
    return Math.max(preferred, minimum);
  }

  private async retryPart<T>(attempt: () => Promise<T>): Promise<T> {
    for (let tries = 1; ; tries++) {
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof DriverError) || !error.retryable || tries >= PART_ATTEMPTS) {
          throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** tries));
      }
    }
  }

  /** Runs one SDK call, translating its failure. */
  private async call<T>(key: string | undefined, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw this.fail(error, key);
    }
  }

  private fail(error: unknown, key?: string): DriverError {
    return translate(error, {
      bucket: this.bucket,
      endpoint: this.endpoint.display,
      ...(key === undefined ? {} : { key }),
    });
  }
}

function asReadable(body: unknown, key: string): Readable {
  if (body instanceof Readable) return body;
  throw new DriverError("unknown", `the response for "${key}" had no readable body`);
}

/** 0, 1, ..., count - 1: part and range numbers. */
function indexes(count: number): number[] {
  return Array.from({ length: count }, (_, index) => index);
}
