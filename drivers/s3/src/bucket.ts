import { Readable } from "node:stream";
import { type AdapterContext, DriverError } from "@argo-artifact-drivers/core";
import type { S3Client } from "@aws-sdk/client-s3";
import type { Endpoint } from "./client.js";
import type { S3Config } from "./driver.js";
import { translate } from "./errors.js";
import type { Encryption } from "./sse.js";

/**
 * One bucket behind one client, with the core's helpers: what the adapter and
 * the transfers (src/transfers.ts) send their requests through.
 */
export class Bucket {
  constructor(
    readonly client: S3Client,
    readonly config: S3Config,
    readonly endpoint: Endpoint,
    readonly sse: Encryption,
    readonly context: AdapterContext,
  ) {}

  get name(): string {
    return this.config.bucket;
  }

  /** Request fields of every new object: encryption and storage class. */
  putOptions() {
    return {
      ...this.sse.write,
      ...(this.config.storageClass ? { StorageClass: this.config.storageClass as never } : {}),
    };
  }

  /** Runs one SDK call about `key`, translating its failure. */
  async call<T>(key: string | undefined, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw this.fail(error, key);
    }
  }

  fail(error: unknown, key?: string): DriverError {
    return translate(error, {
      bucket: this.name,
      endpoint: this.endpoint.display,
      ...(key === undefined ? {} : { key }),
    });
  }
}

/** The body of a GetObject answer, which the SDK types loosely. */
export function asReadable(body: unknown, key: string): Readable {
  if (body instanceof Readable) return body;
  throw new DriverError("unknown", `the answer for "${key}" had no readable body`);
}
