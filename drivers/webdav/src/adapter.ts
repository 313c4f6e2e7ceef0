import type { Readable } from "node:stream";
import { rootCertificates } from "node:tls";
import {
  type AdapterContext,
  type CallOptions,
  DriverError,
  type EntryKind,
  type FolderEntry,
  type StorageAdapter,
  type WriteOptions,
} from "@argo-artifact-drivers/core";
import { authenticator, type Credentials } from "./auth.js";
import type { WebdavConfig } from "./driver.js";
import { translate } from "./errors.js";
import { Http, statusError, statusOk, type TextResponse } from "./http.js";
import { Paths } from "./paths.js";

/** How long a collection this adapter created or found stays known to exist. */
const COLLECTION_CACHE_MS = 30_000;
/** Sockets per server; the core's parallelism bounds what is really used. */
const MAX_SOCKETS = 64;

const PROPFIND_RESOURCETYPE =
  '<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/></d:prop></d:propfind>';

/**
 * A WebDAV collection as a folder backend: a key is a path below `url`, a
 * directory is a collection. Uploads PUT to the temp name the core gives and
 * MOVE onto the key (`Overwrite: T`); parent collections are made on demand.
 */
export class WebdavAdapter implements StorageAdapter {
  readonly target: string;
  private readonly collections = new Map<string, { ready: Promise<void>; expires: number }>();

  private constructor(
    private readonly paths: Paths,
    private readonly http: Http,
  ) {
    this.target = `WebDAV ${paths.base.href}`;
  }

  static create(config: WebdavConfig, context: AdapterContext): WebdavAdapter {
    const paths = new Paths(config.url);
    const https = paths.base.protocol === "https:";
    if (!https && (config.caSecret || config.insecureSkipVerify)) {
      throw new DriverError(
        "invalid-config",
        `caSecret and insecureSkipVerify apply to https only, and url ${paths.base.href} is http`,
      );
    }
    if (config.insecureSkipVerify) {
      context.logger.warn(
        { target: paths.base.href },
        "insecureSkipVerify: the TLS certificate of the WebDAV server is not verified; anyone on the network path can read and change artifacts",
      );
    }
    const ca = config.caSecret ? context.secret(config.caSecret) : undefined;
    if (ca !== undefined && !ca.includes("-----BEGIN CERTIFICATE-----")) {
      throw new DriverError(
        "invalid-config",
        `caSecret (${config.caSecret}) holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`,
      );
    }
    const http = new Http(paths.base, {
      authenticator: authenticator(credentials(config, context)),
      headers: config.headers,
      ca: ca === undefined ? undefined : [...rootCertificates, ca].join("\n"),
      insecureSkipVerify: config.insecureSkipVerify,
      connectTimeoutMs: config.connectTimeoutSeconds * 1000,
      idleTimeoutMs: config.timeoutSeconds * 1000,
      maxSockets: MAX_SOCKETS,
    });
    return new WebdavAdapter(paths, http);
  }

  async stat(key: string, { signal }: CallOptions): Promise<EntryKind> {
    const url = this.paths.url(key);
    const answer = await this.http.request("PROPFIND", url, {
      headers: { Depth: "0", "Content-Type": "application/xml; charset=utf-8" },
      body: PROPFIND_RESOURCETYPE,
      signal,
    });
    if (answer.status === 404) return "missing";
    expect("PROPFIND", url, answer, [207]);
    return (await this.paths.kind(answer.text)) ?? "missing";
  }

  async read(key: string, { signal }: CallOptions): Promise<Readable> {
    const url = this.paths.url(key);
    try {
      return await this.http.download(url, signal);
    } catch (error) {
      const failure = translate(error, "GET", url.href);
      // Servers answer a GET of a collection with 404, 405, 403 or a listing: say what is there.
      if (
        failure.code !== "permission-denied" &&
        failure.code !== "unavailable" &&
        (await this.stat(key, { signal }).catch(() => undefined)) === "directory"
      ) {
        throw new DriverError("not-found", `${url.href} is a collection (a folder), not a file`, {
          cause: error,
        });
      }
      throw failure;
    }
  }

  async write(key: string, body: Readable, { size, signal }: WriteOptions): Promise<void> {
    const url = this.paths.url(key);
    await this.ensureParent(key, signal);
    const answer = await this.http.upload("PUT", url, { body, size, signal });
    if (answer.status === 404 || answer.status === 409) {
      if (parentOf(key) === "") throw this.baseMissing("PUT", url, answer);
      this.forgetCollections(parentOf(key));
    }
    expect("PUT", url, answer, [200, 201, 204]);
  }

  async move(from: string, to: string, { signal }: CallOptions): Promise<void> {
    const url = this.paths.url(from);
    const answer = await this.http.request("MOVE", url, {
      // Absolute: Apache refuses a path-only Destination.
      headers: { Destination: this.paths.url(to).href, Overwrite: "T" },
      signal,
    });
    expect("MOVE", url, answer, [201, 204]);
  }

  async delete(key: string, { signal }: CallOptions): Promise<void> {
    const url = this.paths.url(key);
    const answer = await this.http.request("DELETE", url, { signal });
    if (answer.status === 404) return;
    expect("DELETE", url, answer, [200, 202, 204]);
  }

  async deletePrefix(prefix: string, { signal }: CallOptions): Promise<void> {
    // The trailing slash: nginx refuses DELETE of a collection without it.
    const url = this.paths.url(prefix, true);
    this.forgetCollections(prefix);
    const answer = await this.http.request("DELETE", url, { signal });
    if (answer.status === 404) return;
    expect("DELETE", url, answer, [200, 202, 204]);
  }

  async *listChildren(prefix: string, { signal }: CallOptions): AsyncIterable<FolderEntry> {
    const url = this.paths.url(prefix, prefix !== "");
    const answer = await this.http.request("PROPFIND", url, {
      headers: { Depth: "1", "Content-Type": "application/xml; charset=utf-8" },
      body: PROPFIND_RESOURCETYPE,
      signal,
    });
    if (answer.status === 404) return;
    expect("PROPFIND", url, answer, [207]);
    yield* await this.paths.children(prefix, answer.text);
  }

  async close(): Promise<void> {
    this.http.close();
  }

  /** Makes the collections above `key` exist (MKCOL), each once per adapter while it stays known. */
  private async ensureParent(key: string, signal: AbortSignal): Promise<void> {
    const parent = parentOf(key);
    if (parent !== "") await this.ensureCollection(parent, signal);
  }

  private ensureCollection(path: string, signal: AbortSignal): Promise<void> {
    const known = this.collections.get(path);
    if (known && known.expires > Date.now()) return known.ready;
    const ready = this.makeCollection(path, signal);
    const entry = { ready, expires: Number.POSITIVE_INFINITY };
    this.collections.set(path, entry);
    ready.then(
      () => {
        entry.expires = Date.now() + COLLECTION_CACHE_MS;
      },
      () => {
        if (this.collections.get(path) === entry) this.collections.delete(path);
      },
    );
    return ready;
  }

  /**
   * MKCOL `path`, making missing parents first. An existing collection is
   * success whatever the server answers for it (Apache 405, rclone 201), and
   * so is one a concurrent upload created first.
   */
  private async makeCollection(path: string, signal: AbortSignal): Promise<void> {
    const url = this.paths.url(path, true);
    let answer = await this.http.request("MKCOL", url, { signal });
    if (answer.status === 409 || answer.status === 404) {
      const parent = parentOf(path);
      if (parent === "") throw this.baseMissing("MKCOL", url, answer);
      await this.ensureCollection(parent, signal);
      answer = await this.http.request("MKCOL", url, { signal });
    }
    // 405: something exists there; a file in the way makes the PUT fail with 409, naming the conflict.
    if (statusOk(answer.status) || answer.status === 405) return;
    if (
      answer.status >= 400 &&
      answer.status < 500 &&
      answer.status !== 401 &&
      answer.status !== 403
    ) {
      // Servers refuse a collection below a file in different ways (Apache: 400): say which.
      const there = await this.stat(path, { signal }).catch(() => undefined);
      if (there === "directory") return;
      if (there === "file") {
        throw new DriverError(
          "conflict",
          `${this.paths.url(path).href} is a file, where a collection (folder) is needed (MKCOL ${url.href} answered HTTP ${answer.status})`,
        );
      }
    }
    expect("MKCOL", url, answer, [201]);
  }

  /** The base collection must exist: creating it would hide a mistyped url. */
  private baseMissing(method: string, url: URL, answer: TextResponse): DriverError {
    return new DriverError(
      "not-found",
      `the collection of url ${this.paths.base.href} does not exist (${method} ${url.href} answered HTTP ${answer.status}); create it on the server or fix url`,
      { hint: "Create the base collection on the server, or correct `url` in the configuration." },
    );
  }

  /** Forgets `path` and the collections below it, after they were deleted or found missing. */
  private forgetCollections(path: string): void {
    for (const known of this.collections.keys()) {
      if (path === "" || known === path || known.startsWith(`${path}/`)) {
        this.collections.delete(known);
      }
    }
  }
}

function credentials(config: WebdavConfig, context: AdapterContext): Credentials {
  const { usernameSecret, passwordSecret, bearerTokenSecret, authType } = config;
  if (bearerTokenSecret) {
    if (usernameSecret || passwordSecret) {
      throw new DriverError(
        "invalid-config",
        "bearerTokenSecret and usernameSecret/passwordSecret exclude each other: choose one way to log in",
      );
    }
    const token = context.secret(bearerTokenSecret).trim();
    if (token === "" || /[\r\n]/.test(token)) {
      throw new DriverError(
        "invalid-config",
        `bearerTokenSecret (${bearerTokenSecret}) must hold one non-empty line`,
      );
    }
    return { kind: "bearer", token };
  }
  if (!usernameSecret !== !passwordSecret) {
    throw new DriverError(
      "invalid-config",
      `${usernameSecret ? "passwordSecret" : "usernameSecret"} is missing: give both usernameSecret and passwordSecret, or neither for a server without authentication`,
    );
  }
  if (!usernameSecret || !passwordSecret) {
    if (authType === "digest") {
      throw new DriverError(
        "invalid-config",
        "authType digest needs usernameSecret and passwordSecret",
      );
    }
    return { kind: "none" };
  }
  const username = context.secret(usernameSecret).replace(/\r?\n$/, "");
  const password = context.secret(passwordSecret).replace(/\r?\n$/, "");
  if (authType === "basic" && username.includes(":")) {
    throw new DriverError(
      "invalid-config",
      `the user name in usernameSecret (${usernameSecret}) contains ':', which basic authentication cannot send`,
    );
  }
  return { kind: authType, username, password };
}

/** Throws the mapped error unless the answer's status is one of `accepted`. */
function expect(method: string, url: URL, answer: TextResponse, accepted: number[]): void {
  if (accepted.includes(answer.status)) return;
  if (statusOk(answer.status) && method !== "PROPFIND") return;
  throw translate(statusError(method, url, answer), method, url.href);
}

function parentOf(key: string): string {
  const cut = key.lastIndexOf("/");
  return cut < 0 ? "" : key.slice(0, cut);
}
