import type { z } from "zod";
import type { StorageAdapter } from "./adapter.js";
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
}

export interface AdapterContext {
  /** The value of a secret reference found in the configuration (already resolved by the core). */
  secret(ref: SecretRef): string;
  /** The server's logger; never log secret values. */
  readonly logger: Logger;
}

/** Declares a driver with its configuration type inferred from the shape. */
export function defineDriver<Shape extends z.ZodRawShape>(
  definition: DriverDefinition<Shape>,
): DriverDefinition<Shape> {
  return definition;
}
