import { stat as statFile } from "node:fs/promises";
import type { Readable } from "node:stream";
import type {
  AdapterContext,
  CallOptions,
  DriverError,
  EntryKind,
  StorageAdapter,
  WriteOptions,
} from "@argo-artifact-drivers/core";
import type { BlobItem, ContainerClient } from "@azure/storage-blob";
import { type Client, type ClientOptions, createClient } from "./client.js";
import { openDownload } from "./download.js";
import type { AzureConfig } from "./driver.js";
import { translate } from "./errors.js";
import { type UploadOptions, uploadFile, uploadStream } from "./upload.js";

/**
 * Keys are blob names in one container; a directory is the prefix `key/`,
 * with the slash, so that `out` never touches `out2/...` or `output.log`
 * (Argo's built-in driver lists and deletes by the bare prefix).
 */
export class AzureAdapter implements StorageAdapter {
  readonly target: string;
  private readonly container: ContainerClient;

  private constructor(
    private readonly client: Client,
    private readonly config: AzureConfig,
    private readonly context: AdapterContext,
  ) {
    const { endpoint } = client;
    this.target = `container "${config.container}" of account "${endpoint.account}" at ${endpoint.url}`;
    this.container = client.service.getContainerClient(config.container);
  }

  static async create(
    config: AzureConfig,
    context: AdapterContext,
    options: ClientOptions = {},
  ): Promise<AzureAdapter> {
    const client = await createClient(config, context, options);
    context.logger.debug(
      { account: client.endpoint.account, container: config.container, auth: client.auth },
      "Azure Blob client ready",
    );
    return new AzureAdapter(client, config, context);
  }

  async stat(key: string, { signal }: CallOptions): Promise<EntryKind> {
    try {
      const properties = await this.container
        .getBlobClient(key)
        .getProperties({ abortSignal: signal });
      if (!isFolderMarker(properties.metadata)) return "file";
    } catch (error) {
      const failure = this.fail(error, key);
      if (failure.code !== "not-found" || isContainerMissing(error)) throw failure;
    }
    for await (const page of this.pages(key, signal, 1)) {
      if (page.some((item) => !isMarker(item))) return "directory";
    }
    return "missing";
  }

  read(key: string, { signal }: CallOptions): Promise<Readable> {
    return openDownload({
      blob: this.container.getBlobClient(key),
      name: key,
      context: this.context,
      signal,
      fail: (error) => this.fail(error, key),
    });
  }

  async write(key: string, body: Readable, options: WriteOptions): Promise<void> {
    await uploadStream(this.uploadOptions(key, options.signal), body);
  }

  async writeFromFile(key: string, filePath: string, options: WriteOptions): Promise<void> {
    const size = options.size ?? (await statFile(filePath)).size;
    await uploadFile(this.uploadOptions(key, options.signal), filePath, size);
  }

  async delete(key: string, { signal }: CallOptions): Promise<void> {
    await this.call(key, () =>
      this.container
        .getBlobClient(key)
        .deleteIfExists({ abortSignal: signal, deleteSnapshots: "include" }),
    );
  }

  /**
   * Deletes every blob under `prefix/`, page by page, `parallelism` at once.
   * Folder entries of hierarchical-namespace accounts go last, deepest first,
   * since a folder can only be deleted once it is empty.
   */
  async deletePrefix(prefix: string, { signal }: CallOptions): Promise<void> {
    const folders: string[] = [];
    for await (const page of this.pages(prefix, signal)) {
      const files: string[] = [];
      for (const item of page) (isMarker(item) ? folders : files).push(item.name);
      await this.context.parallel(
        files,
        (name, options) => this.context.retry(() => this.delete(name, options), options),
        { signal },
      );
    }
    folders.sort((a, b) => b.split("/").length - a.split("/").length);
    for (const name of folders) await this.delete(name, { signal });
  }

  async *list(prefix: string, { signal }: CallOptions): AsyncIterable<string> {
    for await (const page of this.pages(prefix, signal)) {
      for (const item of page) if (!isMarker(item)) yield item.name;
    }
  }

  async close(): Promise<void> {
    this.client.close();
  }

  /** The blobs under `prefix/`, one listing page at a time. */
  private async *pages(
    prefix: string,
    signal: AbortSignal,
    maxPageSize = this.config.listPageSize,
  ): AsyncGenerator<BlobItem[]> {
    const pages = this.container
      .listBlobsFlat({ prefix: `${prefix}/`, includeMetadata: true, abortSignal: signal })
      .byPage({ maxPageSize })
      [Symbol.asyncIterator]();
    for (;;) {
      const page = await this.call(prefix, () => pages.next());
      if (page.done) return;
      yield page.value.segment.blobItems;
    }
  }

  private uploadOptions(key: string, signal: AbortSignal): UploadOptions {
    return {
      blob: this.container.getBlockBlobClient(key),
      config: this.config,
      context: this.context,
      signal,
      fail: (error) => this.fail(error, key),
    };
  }

  /** Runs one SDK call, translating its failure. */
  private async call<T>(key: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw this.fail(error, key);
    }
  }

  private fail(error: unknown, blob?: string): DriverError {
    return translate(error, {
      account: this.client.endpoint.account,
      container: this.config.container,
      endpoint: this.client.endpoint.url,
      ...(blob === undefined ? {} : { blob }),
    });
  }
}

/**
 * Folder markers are not files: `key/` blobs made by consoles and tools, and
 * the folders of accounts with a hierarchical namespace (Data Lake Storage),
 * which the Blob API lists as empty blobs marked `hdi_isfolder`.
 */
function isMarker(item: BlobItem): boolean {
  return item.name.endsWith("/") || isFolderMarker(item.metadata);
}

function isFolderMarker(metadata: Record<string, string> | undefined): boolean {
  return metadata?.hdi_isfolder === "true";
}

function isContainerMissing(error: unknown): boolean {
  return (error as { details?: { errorCode?: string } }).details?.errorCode === "ContainerNotFound";
}
