import { createReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  type AdapterContext,
  type CallOptions,
  DriverError,
  type EntryKind,
  type StorageAdapter,
  type WriteOptions,
} from "@argo-artifact-drivers/core";
import type { Bucket, File, Storage } from "@google-cloud/storage";
import {
  createStorage,
  customerKey,
  type Endpoint,
  encodeCrc32c,
  resolveEndpoint,
} from "./client.js";
import { crc32c } from "./crc32c.js";
import type { GcsConfig } from "./driver.js";
import { translate } from "./errors.js";

/** The SDK's download response: the body stream itself, with the status on it. */
interface Response {
  statusCode?: number;
  setMaxListeners?(count: number): unknown;
}

/** Reads of local files for checksums and uploads: large reads, few syscalls. */
const FILE_READ_BYTES = 1024 * 1024;

/** Keys are object names in one bucket; a directory is the prefix `key/`. */
export class GcsAdapter implements StorageAdapter {
  readonly target: string;
  private readonly bucket: Bucket;

  private constructor(
    storage: Storage,
    private readonly config: GcsConfig,
    private readonly endpoint: Endpoint,
    private readonly context: AdapterContext,
    private readonly encryptionKey: Buffer | undefined,
  ) {
    this.bucket = storage.bucket(config.bucket);
    this.target = `gs://${config.bucket} at ${endpoint.display}`;
  }

  static async create(config: GcsConfig, context: AdapterContext): Promise<GcsAdapter> {
    if (config.encryptionKeySecret && config.kmsKeyName) {
      throw new DriverError(
        "invalid-config",
        'fields "encryptionKeySecret" (CSEK) and "kmsKeyName" (CMEK) cannot be used together',
      );
    }
    const key = config.encryptionKeySecret
      ? customerKey(
          context.secretBytes(config.encryptionKeySecret),
          `${config.encryptionKeySecret}`,
        )
      : undefined;
    const endpoint = resolveEndpoint(config);
    const storage = await createStorage(config, endpoint, context);
    return new GcsAdapter(storage, config, endpoint, context, key);
  }

  async stat(key: string, { signal }: CallOptions): Promise<EntryKind> {
    try {
      await this.call(key, signal, () => this.file(key).getMetadata());
      return "file";
    } catch (error) {
      if (!(error instanceof DriverError) || error.code !== "not-found") throw error;
    }
    // Folder markers (`key/`, `key/sub/`) are not files: the first real object decides.
    for await (const name of this.names(`${key}/`, signal, 2)) {
      if (!name.endsWith("/")) return "directory";
    }
    return "missing";
  }

  /**
   * Resolves once the object answered, so that a missing object fails here
   * and not in the middle of the stream. The CRC32C check runs as the last
   * bytes arrive: a mismatch fails the stream, after which the core removes
   * whatever it wrote.
   */
  async read(key: string, { signal }: CallOptions): Promise<Readable> {
    signal.throwIfAborted();
    const source = this.file(key).createReadStream({ validation: "crc32c" });
    const abort = () => source.destroy(signal.reason);
    signal.addEventListener("abort", abort, { once: true });
    try {
      await new Promise<void>((resolve, reject) => {
        source.once("response", (response: Response) => {
          // The body is piped twice inside the SDK (11 listeners): without
          // this, Node prints a leak warning into the plugin's JSON log.
          response.setMaxListeners?.(32);
          // Error answers come as a response too, then as the stream's error.
          if ((response.statusCode ?? 200) < 300) resolve();
        });
        source.once("error", reject);
        // The SDK sends the request on the first read; this one takes no data.
        source.read(0);
      });
    } catch (error) {
      signal.removeEventListener("abort", abort);
      source.destroy();
      throw this.fail(error, key);
    }
    const chunks = async function* (adapter: GcsAdapter) {
      try {
        for await (const chunk of source) yield chunk as Buffer;
      } catch (error) {
        throw adapter.fail(error, key);
      } finally {
        signal.removeEventListener("abort", abort);
      }
    };
    return Readable.from(chunks(this), { objectMode: false });
  }

  /** Streams of unknown size: resumable, one request for the whole stream. */
  async write(key: string, body: Readable, options: WriteOptions): Promise<void> {
    await this.upload(key, body, options.size, undefined, options.signal);
  }

  /**
   * Files: the CRC32C is computed first and sent with the object's metadata,
   * so GCS refuses corrupted bytes before the object exists, instead of the
   * SDK deleting it afterwards.
   */
  async writeFromFile(key: string, filePath: string, options: WriteOptions): Promise<void> {
    const size = options.size ?? (await stat(filePath)).size;
    const checksum = await fileCrc32c(filePath, options.signal);
    const body = createReadStream(filePath, { highWaterMark: FILE_READ_BYTES });
    await this.upload(key, body, size, checksum, options.signal);
  }

  async delete(key: string, { signal }: CallOptions): Promise<void> {
    await this.call(key, signal, () => this.file(key).delete({ ignoreNotFound: true }));
  }

  async deletePrefix(prefix: string, { signal }: CallOptions): Promise<void> {
    await this.context.parallel(
      this.names(`${prefix}/`, signal),
      (name, options) => this.context.retry(() => this.delete(name, options), options),
      { signal },
    );
  }

  async *list(prefix: string, { signal }: CallOptions): AsyncIterable<string> {
    yield* this.names(`${prefix}/`, signal);
  }

  async close(): Promise<void> {}

  /** Every object name starting with `prefix` (slash included: `out/` never matches `out2/`). */
  private async *names(prefix: string, signal: AbortSignal, pageSize?: number) {
    let pageToken: string | undefined;
    do {
      const [files, next] = await this.call(
        undefined,
        signal,
        () =>
          this.bucket.getFiles({
            prefix,
            maxResults: pageSize ?? this.config.listPageSize,
            autoPaginate: false,
            fields: "items(name),nextPageToken",
            ...(pageToken ? { pageToken } : {}),
          }),
        true,
      );
      for (const file of files) yield file.name;
      pageToken = (next as { pageToken?: string } | null)?.pageToken;
    } while (pageToken);
  }

  /**
   * One upload, never resumed: a retry (by the core, of the whole call)
   * starts a new session, because emulators commit the partial object when a
   * broken session is resumed.
   */
  private async upload(
    key: string,
    body: Readable,
    size: number | undefined,
    checksum: string | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    const file = this.file(key);
    const metadata = {
      ...(this.config.storageClass ? { storageClass: this.config.storageClass } : {}),
      ...(checksum ? { crc32c: checksum } : {}),
    };
    const resumable = size === undefined || size > this.config.resumableThreshold;
    try {
      signal.throwIfAborted();
      if (!resumable) {
        await pipeline(
          body,
          file.createWriteStream({ resumable: false, validation: "crc32c", metadata }),
          { signal },
        );
        return;
      }
      // The session is opened here because createWriteStream would open it
      // without credentials on a custom endpoint (the SDK does not pass
      // useAuthWithCustomEndpoint on); the upload itself needs none, the
      // session URI is its authorization.
      const [uri] = await file.createResumableUpload({ metadata });
      signal.throwIfAborted();
      await pipeline(
        body,
        file.createWriteStream({
          uri,
          // Known to be 0: without it the SDK asks the session for its offset,
          // which an emulator takes as the end of the upload.
          offset: 0,
          resumable: true,
          validation: "crc32c",
          metadata,
          ...(this.config.chunkSize ? { chunkSize: this.config.chunkSize } : {}),
        }),
        { signal },
      );
    } catch (error) {
      body.destroy();
      throw this.fail(error, key);
    }
  }

  private file(key: string): File {
    return this.bucket.file(key, {
      ...(this.encryptionKey ? { encryptionKey: this.encryptionKey } : {}),
      ...(this.config.kmsKeyName ? { kmsKeyName: this.config.kmsKeyName } : {}),
    });
  }

  /**
   * Runs one SDK call, translating its failure. The SDK's promise calls take
   * no AbortSignal: a cancelled call stops waiting, its small request runs out.
   */
  private async call<T>(
    key: string | undefined,
    signal: AbortSignal,
    run: () => Promise<T>,
    listing = false,
  ): Promise<T> {
    signal.throwIfAborted();
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      return await Promise.race([run(), aborted]);
    } catch (error) {
      throw this.fail(error, key, listing);
    } finally {
      if (onAbort) signal.removeEventListener("abort", onAbort);
    }
  }

  private fail(error: unknown, key?: string, listing = false): DriverError {
    return translate(error, {
      bucket: this.config.bucket,
      endpoint: this.endpoint.display,
      ...(key === undefined ? {} : { key }),
      listing,
    });
  }
}

/** The CRC32C of a local file, read through one reused buffer (no garbage per chunk). */
async function fileCrc32c(filePath: string, signal: AbortSignal): Promise<string> {
  const file = await open(filePath, "r");
  try {
    const buffer = Buffer.allocUnsafe(FILE_READ_BYTES);
    let checksum = 0;
    for (;;) {
      signal.throwIfAborted();
      const { bytesRead } = await file.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) return encodeCrc32c(checksum);
      checksum = crc32c(buffer.subarray(0, bytesRead), checksum);
    }
  } finally {
    await file.close();
  }
}
