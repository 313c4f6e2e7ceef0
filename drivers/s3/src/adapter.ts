import { open, rm } from "node:fs/promises";
import type { Readable } from "node:stream";
import {
  type AdapterContext,
  type CallOptions,
  DriverError,
  type EntryKind,
  type StorageAdapter,
  type WriteOptions,
  writeCoalesced,
} from "@argo-artifact-drivers/core";
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
} from "@aws-sdk/client-s3";
import { asReadable, Bucket } from "./bucket.js";
import { createClient, resolveEndpoint } from "./client.js";
import type { S3Config } from "./driver.js";
import { bucketCreationFailure, deleteFailure } from "./errors.js";
import { encryption } from "./sse.js";
import { downloadRanges, uploadFile, uploadStream } from "./transfers.js";

/** Keys a `stat` listing page asks for: enough to see past a few folder markers in one request. */
const STAT_PAGE_KEYS = 100;

/**
 * Keys are object keys in one bucket; a directory is the prefix `key/`.
 * Writes are atomic natively (PutObject, multipart completion), so there is
 * no `move`; listings are flat, so there is no `listChildren`.
 */
export class S3Adapter implements StorageAdapter {
  readonly target: string;

  private constructor(private readonly bucket: Bucket) {
    this.target = `bucket "${bucket.name}" at ${bucket.endpoint.display}`;
  }

  static async create(config: S3Config, context: AdapterContext): Promise<S3Adapter> {
    const endpoint = resolveEndpoint(config);
    const sse = encryption(config, context);
    const client = createClient(config, endpoint, context);
    const adapter = new S3Adapter(new Bucket(client, config, endpoint, sse, context));
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

  /** A folder marker (`key/`, `key/sub/`) alone is not a directory: an object must be below. */
  async stat(key: string, { signal }: CallOptions): Promise<EntryKind> {
    try {
      await this.head(key, signal);
      return "file";
    } catch (error) {
      if (!(error instanceof DriverError) || error.code !== "not-found") throw error;
    }
    for await (const keys of this.pages(`${key}/`, signal, STAT_PAGE_KEYS)) {
      if (keys.some((found) => !found.endsWith("/"))) return "directory";
    }
    return "missing";
  }

  async read(key: string, { signal }: CallOptions): Promise<Readable> {
    const { bucket } = this;
    const object = await bucket.call(key, () =>
      bucket.client.send(
        new GetObjectCommand({ Bucket: bucket.name, Key: key, ...bucket.sse.read }),
        { abortSignal: signal },
      ),
    );
    return asReadable(object.Body, key);
  }

  write(key: string, body: Readable, options: WriteOptions): Promise<void> {
    return uploadStream(this.bucket, key, body, options);
  }

  writeFromFile(key: string, filePath: string, options: WriteOptions): Promise<void> {
    return uploadFile(this.bucket, key, filePath, options);
  }

  /** Objects larger than `partSize` download as parallel ranges, smaller ones in one GET. */
  async readToFile(key: string, filePath: string, { signal }: CallOptions): Promise<void> {
    const { config } = this.bucket;
    const head = await this.head(key, signal);
    const size = head.ContentLength ?? 0;
    try {
      if (size <= config.partSize || config.downloadConcurrency === 1 || !head.ETag) {
        const body = await this.read(key, { signal });
        const file = await open(filePath, "w");
        try {
          await writeCoalesced(body, file, signal);
        } finally {
          body.destroy();
          await file.close();
        }
      } else {
        await downloadRanges(this.bucket, key, filePath, { size, etag: head.ETag }, signal);
      }
    } catch (error) {
      await rm(filePath, { force: true });
      throw this.bucket.fail(error, key);
    }
  }

  async delete(key: string, { signal }: CallOptions): Promise<void> {
    const { bucket } = this;
    await bucket.call(key, () =>
      bucket.client.send(new DeleteObjectCommand({ Bucket: bucket.name, Key: key }), {
        abortSignal: signal,
      }),
    );
  }

  /** Deletes page by page: each listing page (at most 1,000 keys) is one DeleteObjects call. */
  async deletePrefix(prefix: string, { signal }: CallOptions): Promise<void> {
    const { bucket } = this;
    for await (const keys of this.pages(`${prefix}/`, signal)) {
      if (keys.length === 0) continue;
      const result = await bucket.call(prefix, () =>
        bucket.client.send(
          new DeleteObjectsCommand({
            Bucket: bucket.name,
            Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
          }),
          { abortSignal: signal },
        ),
      );
      const failed = result.Errors?.[0];
      if (failed) throw deleteFailure(failed, { ...this.where, key: failed.Key ?? prefix });
    }
  }

  /** Every key under `prefix/`, folder markers included: the core drops them. */
  async *list(prefix: string, { signal }: CallOptions): AsyncIterable<string> {
    for await (const keys of this.pages(`${prefix}/`, signal)) yield* keys;
  }

  async close(): Promise<void> {
    this.bucket.client.destroy();
  }

  private get where() {
    return { bucket: this.bucket.name, endpoint: this.bucket.endpoint.display };
  }

  /**
   * HEAD answers carry no error body, so a refusal does not say why; one
   * listing call then gets the reason (a wrong secret key, an unknown key ID).
   */
  private async head(key: string, signal: AbortSignal) {
    const { bucket } = this;
    try {
      return await bucket.client.send(
        new HeadObjectCommand({ Bucket: bucket.name, Key: key, ...bucket.sse.read }),
        { abortSignal: signal },
      );
    } catch (error) {
      const failure = bucket.fail(error, key);
      if (failure.code === "permission-denied") {
        await bucket.call(key, () =>
          bucket.client.send(
            new ListObjectsV2Command({ Bucket: bucket.name, Prefix: key, MaxKeys: 1 }),
            { abortSignal: signal },
          ),
        );
      }
      throw failure;
    }
  }

  private async *pages(
    prefix: string,
    signal: AbortSignal,
    MaxKeys?: number,
  ): AsyncIterable<string[]> {
    const { bucket } = this;
    let ContinuationToken: string | undefined;
    do {
      const page = await bucket.call(prefix.slice(0, -1), () =>
        bucket.client.send(
          new ListObjectsV2Command({
            Bucket: bucket.name,
            Prefix: prefix,
            ContinuationToken,
            ...(MaxKeys === undefined ? {} : { MaxKeys }),
          }),
          { abortSignal: signal },
        ),
      );
      yield (page.Contents ?? []).flatMap((object) => (object.Key ? [object.Key] : []));
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  private async createBucket(objectLocking: boolean): Promise<void> {
    const { bucket } = this;
    const signal = AbortSignal.timeout(60_000);
    try {
      await bucket.client.send(new HeadBucketCommand({ Bucket: bucket.name }), {
        abortSignal: signal,
      });
      return;
    } catch (error) {
      const failure = bucket.fail(error);
      if (failure.code !== "not-found") throw failure;
    }
    try {
      await bucket.client.send(
        new CreateBucketCommand({
          Bucket: bucket.name,
          ObjectLockEnabledForBucket: objectLocking || undefined,
          // us-east-1 is the one region that refuses its own name as a constraint.
          ...(bucket.endpoint.aws && bucket.config.region !== "us-east-1"
            ? { CreateBucketConfiguration: { LocationConstraint: bucket.config.region as never } }
            : {}),
        }),
        { abortSignal: signal },
      );
    } catch (error) {
      // Another pod created it first.
      if ((error as { name?: string }).name === "BucketAlreadyOwnedByYou") return;
      throw bucketCreationFailure(bucket.fail(error), bucket.name);
    }
  }
}
