import { createHash } from "node:crypto";
import { pino } from "pino";
import { ConfigParser, type ParsedConfig } from "./config.js";
import type { AdapterContext, DriverDefinition } from "./driver.js";
import { createLogger, type Logger } from "./log.js";
import { parallel } from "./parallel.js";
import { redact } from "./redaction.js";
import { type RetryListener, type RetryPolicy, withRetry } from "./retry.js";
import {
  type AmbientCredentials,
  allowedSecretSources,
  ambientCredentials,
  ambientCredentialsRefused,
  SecretRef,
  SecretResolver,
  secretText,
} from "./secrets.js";
import { Storage } from "./storage.js";

export interface StorageLease {
  readonly storage: Storage;
  release(): void;
}

interface Entry {
  storage: Promise<Storage>;
  users: number;
  lastUsed: number;
}

/**
 * One adapter per distinct configuration and secret values, so clients,
 * connections and SSH sessions are built once and reused by every call of a
 * sidecar. Keyed by a hash of the exact configuration string and the
 * resolved secrets: a rotated Secret yields a new adapter, and the old one is
 * closed once idle. Bounded, and idle entries are closed after `idleMs`.
 */
export class AdapterCache {
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly options: { maxEntries: number; idleMs: number; ambient: AmbientCredentials };

  constructor(
    private readonly driver: DriverDefinition,
    private readonly secrets: SecretResolver,
    private readonly logger: Logger,
    options: { maxEntries?: number; idleMs?: number; ambient?: AmbientCredentials } = {},
  ) {
    this.options = {
      maxEntries: options.maxEntries ?? 16,
      idleMs: options.idleMs ?? 5 * 60_000,
      // Read once at startup, like the secret sources: an unknown value stops the plugin.
      ambient: options.ambient ?? ambientCredentials(),
    };
    this.sweeper = setInterval(() => this.sweep(), Math.min(60_000, this.options.idleMs)).unref();
  }

  async acquire(configText: string, config: ParsedConfig): Promise<StorageLease> {
    const refs = findSecretRefs(config);
    const values = new Map<SecretRef, Buffer>();
    for (const ref of refs) values.set(ref, await this.secrets.resolve(ref));

    const digest = createHash("sha256").update(configText);
    for (const value of values.values()) digest.update("\0").update(value);
    const cacheKey = digest.digest("base64");

    let entry = this.entries.get(cacheKey);
    if (!entry) {
      const created: Entry = {
        storage: Promise.resolve(
          this.driver.createAdapter(config, this.context(config, values)),
        ).then((adapter) => new Storage(adapter, config.parallelism)),
        users: 0,
        lastUsed: Date.now(),
      };
      entry = created;
      this.entries.set(cacheKey, created);
      created.storage.catch(() => this.entries.delete(cacheKey));
    } else {
      // Re-insert so iteration order stays least recently used first.
      this.entries.delete(cacheKey);
      this.entries.set(cacheKey, entry);
    }
    entry.users++;
    this.evictBeyondLimit();
    const held = entry;
    try {
      const storage = await held.storage;
      let released = false;
      return {
        storage,
        release: () => {
          if (released) return;
          released = true;
          held.users--;
          held.lastUsed = Date.now();
        },
      };
    } catch (error) {
      held.users--;
      throw error;
    }
  }

  /** What an adapter built for `config` may use: its secrets, and retries and parallelism as the user configured them. */
  private context(config: ParsedConfig, values: Map<SecretRef, Buffer>): AdapterContext {
    const logger = this.logger;
    return adapterContext({
      logger,
      retry: config.retry,
      parallelism: config.parallelism,
      ambientCredentials: this.options.ambient,
      secret: (ref) => {
        const value = values.get(ref);
        if (value === undefined) throw new Error(`${ref} is not part of this configuration`);
        return value;
      },
      onRetry: (error, attempt, delayMs) =>
        logger.warn({ attempt, delayMs, code: error.code }, "retrying part of a transfer"),
    });
  }

  /** Closes every adapter; used on shutdown. */
  async closeAll(): Promise<void> {
    clearInterval(this.sweeper);
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.allSettled(all.map((entry) => this.close(entry)));
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, entry] of this.entries) {
      if (entry.users === 0 && now - entry.lastUsed >= this.options.idleMs) {
        this.entries.delete(key);
        void this.close(entry);
      }
    }
  }

  private evictBeyondLimit(): void {
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.options.maxEntries) return;
      if (entry.users === 0) {
        this.entries.delete(key);
        void this.close(entry);
      }
    }
  }

  private async close(entry: Entry): Promise<void> {
    try {
      await (await entry.storage).adapter.close();
    } catch (error) {
      this.logger.warn({ err: error }, "closing an idle adapter failed");
    }
  }
}

function findSecretRefs(value: unknown, found: SecretRef[] = []): SecretRef[] {
  if (value instanceof SecretRef) found.push(value);
  else if (Array.isArray(value)) for (const item of value) findSecretRefs(item, found);
  else if (value !== null && typeof value === "object") {
    for (const item of Object.values(value)) findSecretRefs(item, found);
  }
  return found;
}

/**
 * The storage for one configuration, built in this process exactly as the
 * server builds it: for tests and tools that look at a backend directly
 * (the conformance kit inspects what a failed call left behind).
 */
export async function openStorage(
  driver: DriverDefinition,
  configuration: string,
): Promise<{ storage: Storage; close(): Promise<void> }> {
  const cache = new AdapterCache(
    driver,
    new SecretResolver({ allowed: allowedSecretSources() }),
    createLogger(),
  );
  const lease = await cache.acquire(
    configuration,
    new ConfigParser(driver.config).parse(configuration),
  );
  return {
    storage: lease.storage,
    close: async () => {
      lease.release();
      await cache.closeAll();
    },
  };
}

/**
 * The context the core lends an adapter, from its parts: exported so that a
 * driver's in-process tests drive their adapter with the real retry and
 * parallelism rules (and, e.g., count the retries through `onRetry`).
 */
export function adapterContext(options: {
  /** Default: a logger that writes nothing. */
  logger?: Logger;
  retry: RetryPolicy;
  parallelism: number;
  /** A secret's value: bytes, or text (tests). */
  secret: (ref: SecretRef) => Uint8Array | string;
  /** Default: ARTIFACT_DRIVER_AMBIENT_CREDENTIALS as the server reads it. */
  ambientCredentials?: AmbientCredentials;
  onRetry?: RetryListener;
}): AdapterContext {
  const bytes = (ref: SecretRef): Buffer => {
    const value = options.secret(ref);
    return typeof value === "string" ? Buffer.from(value) : Buffer.from(value);
  };
  const ambient = options.ambientCredentials ?? ambientCredentials();
  return {
    logger: options.logger ?? pino({ level: "silent" }),
    secret: (ref) => secretText(ref, bytes(ref)),
    secretBytes: bytes,
    checkAmbientCredentials: (field, identity) => {
      if (ambient !== "allow") throw ambientCredentialsRefused(field, identity);
    },
    redact,
    retry: (operation, { signal }) => withRetry(options.retry, signal, operation, options.onRetry),
    parallel: (items, work, { signal, concurrency }) =>
      parallel(items, work, { signal, concurrency: concurrency ?? options.parallelism }),
  };
}
