import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  failureMessage,
  freePort,
  sha256File,
  type TestPlugin,
  writeRandomFile,
} from "@argo-artifact-drivers/conformance";
import type { Storage } from "@google-cloud/storage";
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { createBucket } from "./backend.js";
import { configuration, startPlugin, timed, verifier } from "./plugin.js";
import { FaultProxy } from "./proxy.js";

const MiB = 1024 * 1024;
const BUCKET = "failures";
const run = randomBytes(4).toString("hex");
const key = (name: string) => `failures-${run}/${name}`;
/** Two quick tries, so that failures that stay come back fast. */
const RETRY = { attempts: 2, initialDelaySeconds: 0.05 };

let plugin: TestPlugin;
let proxy: FaultProxy;
let gcs: Storage;
let work: string;
let small: string;
let large: string;

beforeAll(async () => {
  await createBucket(inject("endpoint"), BUCKET);
  await createBucket(inject("filesystemEndpoint"), BUCKET);
  proxy = await FaultProxy.start(inject("endpoint"));
  plugin = await startPlugin();
  gcs = verifier();
  work = await mkdtemp(join(tmpdir(), "gcs-failures-"));
  small = join(work, "small.txt");
  await writeFile(small, "a small artifact");
  large = join(work, "large.bin");
  await writeRandomFile(large, 12 * MiB);
});

afterAll(async () => {
  await plugin?.stop();
  await proxy?.close();
  await rm(work, { recursive: true, force: true });
});

beforeEach(() => proxy.clear());

function proxied(fields: Record<string, unknown> = {}): string {
  return configuration({ bucket: BUCKET, endpoint: proxy.endpoint, retry: RETRY, ...fields });
}

/** A fresh folder to load into; after a failed Load it must still be empty. */
async function loadTarget(): Promise<{ folder: string; path: string }> {
  const folder = await mkdtemp(join(work, "load-"));
  return { folder, path: join(folder, "artifact") };
}

describe("integrity", () => {
  it("an object corrupted at rest fails Load and OpenStream on its CRC32C, leaving nothing at the path", async () => {
    // This emulator keeps objects as files with their metadata (CRC32C included) beside them.
    const config = configuration({
      bucket: BUCKET,
      endpoint: inject("filesystemEndpoint"),
      retry: RETRY,
    });
    const client = plugin.client(config);
    const objectKey = key("corrupt/at-rest.bin");
    await client.save(objectKey, large);
    const stored = join(inject("filesystemRoot"), BUCKET, ...objectKey.split("/"));
    const bytes = await readFile(stored);
    expect(bytes.length).toBe(12 * MiB);
    bytes[7 * MiB] = (bytes[7 * MiB] ?? 0) ^ 0x01;
    await writeFile(stored, bytes);

    const { folder, path } = await loadTarget();
    const message = await failureMessage(client.load(objectKey, path));
    expect(message).toMatch(
      /the downloaded bytes of object ".*" in bucket "failures" do not match the CRC32C checksum/,
    );
    expect(message).toContain(JSON.stringify(objectKey));
    expect(message).toContain("[transient]");
    expect(await readdir(folder)).toEqual([]);

    const streamed = failureMessage(
      (async () => {
        for await (const _ of client.openStream(objectKey)) {
          // drain
        }
      })(),
    );
    expect(await streamed).toMatch(/do not match the CRC32C checksum/);
  });

  it("bytes flipped in transit are caught; the retry downloads them whole", async () => {
    const client = plugin.client(proxied());
    const objectKey = key("corrupt/in-transit.bin");
    await client.save(objectKey, large);
    let faults = 0;
    proxy.fault = (exchange) =>
      exchange.url.includes("alt=media") && faults++ === 0
        ? { kind: "corrupt-download", atByte: 5 * MiB }
        : undefined;
    const { path } = await loadTarget();
    await client.load(objectKey, path);
    expect(await sha256File(path)).toBe(await sha256File(large));
    expect(proxy.matching("alt=media").length).toBe(2);
  });

  it("a connection cut mid-download fails the first try only", async () => {
    const client = plugin.client(proxied());
    const objectKey = key("cut/download.bin");
    await client.save(objectKey, large);
    let faults = 0;
    proxy.fault = (exchange) =>
      exchange.url.includes("alt=media") && faults++ === 0
        ? { kind: "cut-download", afterBytes: 3 * MiB }
        : undefined;
    const { path } = await loadTarget();
    await client.load(objectKey, path);
    expect(await sha256File(path)).toBe(await sha256File(large));
  });
});

describe("interrupted resumable uploads", () => {
  const sessionUpload = (url: string, method: string) =>
    method === "PUT" && url.includes("upload_id=");

  it("a retry opens a new session, never resumes the broken one, and stores the whole file", async () => {
    const client = plugin.client(proxied());
    const objectKey = key("resumable/retried.bin");
    let cuts = 0;
    proxy.fault = (exchange) =>
      sessionUpload(exchange.url, exchange.method) && cuts++ === 0
        ? { kind: "cut-upload", afterBytes: 3 * MiB }
        : undefined;
    await client.save(objectKey, large);
    const sessions = proxy.exchanges.filter(
      (exchange) => exchange.method === "POST" && exchange.url.includes("uploadType=resumable"),
    );
    expect(sessions.length).toBe(2);
    // Asking a broken session for its offset (`bytes */*`) is what makes emulators commit it.
    const puts = proxy.exchanges.filter((exchange) => exchange.method === "PUT");
    expect(puts.map((exchange) => exchange.headers["content-range"])).toEqual([
      "bytes 0-*/*",
      "bytes 0-*/*",
    ]);
    const [metadata] = await gcs.bucket(BUCKET).file(objectKey).getMetadata();
    expect(Number(metadata.size)).toBe(12 * MiB);
    const { path } = await loadTarget();
    await client.load(objectKey, path);
    expect(await sha256File(path)).toBe(await sha256File(large));
  });

  it("when every try breaks, nothing is left at the key, and an earlier object stays whole", async () => {
    const client = plugin.client(proxied());
    const fresh = key("resumable/never.bin");
    const existing = key("resumable/existing.bin");
    await client.save(existing, small);
    proxy.fault = (exchange) =>
      sessionUpload(exchange.url, exchange.method)
        ? { kind: "cut-upload", afterBytes: 3 * MiB }
        : undefined;
    for (const objectKey of [fresh, existing]) {
      const message = await failureMessage(client.save(objectKey, large));
      expect(message).toContain(JSON.stringify(objectKey));
      expect(message).toMatch(/\[transient\]/);
      expect(message).not.toMatch(/upload_id=(?!REDACTED)/);
    }
    expect((await gcs.bucket(BUCKET).file(fresh).exists())[0]).toBe(false);
    const [content] = await gcs.bucket(BUCKET).file(existing).download();
    expect(content.toString()).toBe("a small artifact");
  });
});

describe("errors name the bucket, the object and what to do", () => {
  it.each([
    [401, /refused the credentials for bucket "failures" \(.*401/, "permission-denied"],
    [
      403,
      /access to object ".*" in bucket "failures" at http:\/\/127\.0\.0\.1:\d+ was denied/,
      "permission-denied",
    ],
    [429, /failed temporarily .*\(after 2 tries\)/, "transient"],
    [503, /failed temporarily .*\(after 2 tries\)/, "transient"],
  ])("HTTP %i", async (status, pattern, code) => {
    const objectKey = key(`status/${status}.txt`);
    proxy.fault = () => ({ kind: "status", status });
    const message = await failureMessage(plugin.client(proxied()).load(objectKey, join(work, "x")));
    expect(message).toMatch(pattern);
    expect(message).toContain(JSON.stringify(objectKey));
    expect(message).toContain(`[${code}]`);
  });

  it("a 503 on the first try is retried away", async () => {
    let faults = 0;
    proxy.fault = () => (faults++ === 0 ? { kind: "status", status: 503 } : undefined);
    const client = plugin.client(proxied());
    await client.save(key("status/retried.txt"), small);
    expect(faults).toBeGreaterThan(1);
    expect((await gcs.bucket(BUCKET).file(key("status/retried.txt")).exists())[0]).toBe(true);
  });

  it("a missing bucket is reported as such", async () => {
    const client = plugin.client(configuration({ bucket: "no-such-bucket" }));
    const message = await failureMessage(client.load(key("anything"), join(work, "y")));
    expect(message).toMatch(/the bucket "no-such-bucket" does not exist at http:\/\/127\.0\.0\.1/);
    expect(message).toContain("[not-found]");
  });

  it("an unreachable endpoint fails within seconds, naming it", async () => {
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    const client = plugin.client(configuration({ bucket: BUCKET, endpoint }));
    const [message, ms] = await timed(failureMessage(client.save(key("unreachable"), small)));
    expect(message).toContain(`cannot connect to ${endpoint}`);
    expect(message).toContain("ECONNREFUSED");
    expect(message).toContain("[unavailable]");
    expect(ms).toBeLessThan(5000);
  });

  it("an endpoint that accepts connections but never completes TLS fails after connectTimeoutSeconds", async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => sockets.add(socket));
    silent.listen(0, "127.0.0.1");
    await once(silent, "listening");
    const { port } = silent.address() as { port: number };
    try {
      const endpoint = `https://127.0.0.1:${port}`;
      const config = configuration({ bucket: BUCKET, endpoint, connectTimeoutSeconds: 1 });
      const [message, ms] = await timed(
        failureMessage(plugin.client(config).isDirectory(key("x"))),
      );
      expect(message).toContain(`cannot connect to ${endpoint}`);
      expect(message).toMatch(/within 1 s/);
      expect(message).toContain("[unavailable]");
      expect(ms).toBeGreaterThanOrEqual(900);
      expect(ms).toBeLessThan(4000);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });
});

describe("TLS", () => {
  it("an endpoint with an untrusted certificate is refused; trusting its CA makes it work", async () => {
    const endpoint = inject("tlsEndpoint");
    await createBucket(endpoint, "tls-bucket", inject("caFile"));
    const config = configuration({ bucket: "tls-bucket", endpoint });
    const message = await failureMessage(
      plugin.client(config).save(key("tls/untrusted.txt"), small),
    );
    expect(message).toMatch(/TLS certificate of https:\/\/127\.0\.0\.1:\d+ is not trusted/);
    expect(message).toContain("[unavailable]");

    const trusting = await startPlugin({ NODE_EXTRA_CA_CERTS: inject("caFile") });
    try {
      const client = trusting.client(config);
      await client.save(key("tls/trusted.txt"), small);
      const { path } = await loadTarget();
      await client.load(key("tls/trusted.txt"), path);
      expect(await readFile(path, "utf8")).toBe("a small artifact");
    } finally {
      await trusting.stop();
    }
  });
});
