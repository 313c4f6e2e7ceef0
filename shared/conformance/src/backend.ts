import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  type DriverDefinition,
  openStorage,
  type Storage,
  type StorageAdapter,
} from "@argo-artifact-drivers/core";
import type { ConformanceOptions } from "./kit.js";

/**
 * The backend as the driver's own adapter sees it, in the test process:
 * temp names and folder markers included, which the plugin never shows. For
 * checking what a failed call left behind.
 */
export class BackendView {
  private constructor(
    readonly storage: Storage,
    readonly close: () => Promise<void>,
  ) {}

  static async open(options: ConformanceOptions, configuration: string): Promise<BackendView> {
    // Secret references in test configurations read the plugin's environment.
    Object.assign(process.env, options.env);
    const module = (await import(pathToFileURL(driverModule(options)).href)) as {
      driver: DriverDefinition;
    };
    const { storage, close } = await openStorage(module.driver, configuration);
    return new BackendView(storage, close);
  }

  get adapter(): StorageAdapter {
    return this.storage.adapter;
  }

  /** Every object under `prefix/` with the SHA-256 of its content, keyed by full key. */
  async snapshot(prefix: string): Promise<Map<string, string>> {
    const signal = AbortSignal.timeout(120_000);
    const result = new Map<string, string>();
    for (const key of await this.rawKeys(prefix, signal)) {
      const hash = createHash("sha256");
      if (!key.endsWith("/")) {
        for await (const chunk of await this.adapter.read(key, { signal })) hash.update(chunk);
      }
      result.set(key, hash.digest("hex"));
    }
    return result;
  }

  /** Keys under `prefix/` exactly as the backend has them. */
  async rawKeys(prefix: string, signal: AbortSignal): Promise<string[]> {
    const { adapter } = this;
    if (adapter.list) return (await Array.fromAsync(adapter.list(prefix, { signal }))).sort();
    const keys: string[] = [];
    const folders = [prefix];
    for (let folder = folders.pop(); folder !== undefined; folder = folders.pop()) {
      for await (const entry of adapter.listChildren?.(folder, { signal }) ?? []) {
        (entry.kind === "file" ? keys : folders).push(`${folder}/${entry.name}`);
      }
    }
    return keys.sort();
  }
}

/** The driver's `driver.js`, beside its entrypoint `main.js`. */
export function driverModule(options: ConformanceOptions): string {
  return join(dirname(options.entrypoint), "driver.js");
}
