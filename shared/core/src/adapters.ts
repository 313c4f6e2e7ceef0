import { createHash } from "node:crypto";
import type { StorageAdapter } from "./adapter.js";
import type { DriverDefinition } from "./driver.js";
import type { Logger } from "./log.js";
import { SecretRef, type SecretResolver } from "./secrets.js";

export interface AdapterLease {
  readonly adapter: StorageAdapter;
  release(): void;
}

interface Entry {
  adapter: Promise<StorageAdapter>;
  users: number;
  lastUsed: number;
}

/**
 * One adapter per distinct configuration and secret values, so clients,
 * connections and SSH sessions are built once and reused by every call of a
 * sidecar. Keyed by the exact configuration string plus a hash of the
 * resolved secrets: a rotated Secret yields a new adapter, and the old one is
 * closed once idle. Bounded, and idle entries are closed after `idleMs`.
 */
export class AdapterCache {
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly driver: DriverDefinition,
    private readonly secrets: SecretResolver,
    private readonly logger: Logger,
    private readonly options = { maxEntries: 16, idleMs: 5 * 60_000 },
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(60_000, options.idleMs)).unref();
  }

  async acquire(configText: string, config: Record<string, unknown>): Promise<AdapterLease> {
    const refs = findSecretRefs(config);
    const values = new Map<SecretRef, string>();
    for (const ref of refs) values.set(ref, await this.secrets.resolve(ref));

    const digest = createHash("sha256");
    for (const value of values.values()) digest.update(value).update("\0");
    const cacheKey = `${configText}\0${digest.digest("hex")}`;

    let entry = this.entries.get(cacheKey);
    if (!entry) {
      const created: Entry = {
        adapter: Promise.resolve(
          this.driver.createAdapter(config, {
            logger: this.logger,
            secret: (ref) => {
              const value = values.get(ref);
              if (value === undefined) throw new Error(`${ref} is not part of this configuration`);
              return value;
            },
          }),
        ),
        users: 0,
        lastUsed: Date.now(),
      };
      entry = created;
      this.entries.set(cacheKey, created);
      created.adapter.catch(() => this.entries.delete(cacheKey));
    } else {
      // Re-insert so iteration order stays least recently used first.
      this.entries.delete(cacheKey);
      this.entries.set(cacheKey, entry);
    }
    entry.users++;
    this.evictBeyondLimit();
    const held = entry;
    try {
      const adapter = await held.adapter;
      let released = false;
      return {
        adapter,
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
      await (await entry.adapter).close();
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
