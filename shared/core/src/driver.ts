import type { z } from "zod";
import type { CallOptions, StorageAdapter } from "./adapter.js";
import type { Logger } from "./log.js";
import type { SecretRef } from "./secrets.js";

/**
 * What a driver package exports: its name, its configuration fields and a
 * factory for its adapter. The core does everything else.
 */
export interface DriverDefinition<Shape extends z.ZodRawShape = z.ZodRawShape> {
  /** Short backend name for logs and messages, e.g. `s3`. */
  readonly name: string;
  /** The driver's own configuration fields (a zod object shape); the core adds the common ones. */
  readonly config: Shape;
  /**
   * Builds an adapter for one validated configuration. Called once per distinct
   * configuration and secret values; the adapter is cached and reused, so build
   * clients and connections here, not per call. Import heavy SDKs lazily here
   * so the server binds its socket fast.
   */
  createAdapter(
    config: z.output<z.ZodObject<Shape>>,
    context: AdapterContext,
  ): Promise<StorageAdapter> | StorageAdapter;
  /**
   * Imports what `createAdapter` imports (the SDK), in the background once the
   * socket is bound and the service is loaded, so that the first call finds
   * it loaded or already loading instead of starting the import itself.
   */
  preload?(): Promise<unknown>;
}

/**
 * What the core lends an adapter for the work inside one call: secrets, the
 * logger, and the user's retry and parallelism settings, so no driver writes
 * its own retry loop or worker pool.
 */
export interface AdapterContext {
  /**
   * The text of a secret reference found in the configuration (already
   * resolved by the core), for fields that hold text: keys, tokens,
   * passwords, PEM. A value that is not UTF-8 is an invalid-config error
   * naming the reference.
   */
  secret(ref: SecretRef): string;
  /**
   * The bytes of a secret reference, exactly as stored (Kubernetes Secret
   * values are base64 in the API and may be binary): for binary fields such
   * as a 32-byte encryption key. Their base64 and hex forms are scrubbed
   * like the value itself.
   */
  secretBytes(ref: SecretRef): Buffer;
  /**
   * Call before a configuration uses the container's own identity (an SDK's
   * default credential chain, Workload Identity, an instance role) instead of
   * credentials from a Secret: throws an invalid-config error naming `field`
   * and the operator's switch ARTIFACT_DRIVER_AMBIENT_CREDENTIALS unless the
   * operator allows it. Beside argo-server that identity is argo-server's.
   * `identity` says what would be used, e.g. "the AWS SDK's default credential chain".
   */
  checkAmbientCredentials(field: string, identity: string): void;
  /** The server's logger; its lines are scrubbed of secret values and of what `redact` registered. */
  readonly logger: Logger;
  /** Registers a value derived from a secret (its base64, a token made with it) to be scrubbed like the secret. */
  redact(value: string): void;
  /**
   * Runs a replayable sub-operation (a part, a range) under the user's retry
   * policy, retrying only `transient` failures and stopping when `signal`
   * fires. A failure that used up its tries is not retried again by the core.
   */
  retry<T>(operation: () => Promise<T>, options: CallOptions): Promise<T>;
  /**
   * Runs `work` for every item, at most `concurrency` at once (default: the
   * configured `parallelism`). Each run gets a child signal; the first failure
   * aborts the others, and the promise settles only after every run has.
   */
  parallel<T>(
    items: Iterable<T> | AsyncIterable<T>,
    work: (item: T, options: CallOptions) => Promise<void>,
    options: CallOptions & { concurrency?: number },
  ): Promise<void>;
}

/** Declares a driver with its configuration type inferred from the shape. */
export function defineDriver<Shape extends z.ZodRawShape>(
  definition: DriverDefinition<Shape>,
): DriverDefinition<Shape> {
  return definition;
}
