import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  failureMessage,
  sha256File,
  type TestPlugin,
  treeDigest,
  writeRandomFile,
} from "@argo-artifact-drivers/conformance";
import type { Storage } from "@google-cloud/storage";
import { crc32c } from "@node-rs/crc32";
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { createBucket } from "./backend.js";
import { configuration, startPlugin, verifier } from "./plugin.js";
import { FaultProxy } from "./proxy.js";

const MiB = 1024 * 1024;
const BUCKET = "driver-tests";
const run = randomBytes(4).toString("hex");
const key = (name: string) => `gcs-${run}/${name}`;

let plugin: TestPlugin;
let proxy: FaultProxy;
let gcs: Storage;
let work: string;
let small: string;

beforeAll(async () => {
  await createBucket(inject("endpoint"), BUCKET);
  proxy = await FaultProxy.start(inject("endpoint"));
  plugin = await startPlugin({
    CSEK_RAW: "0123456789abcdef0123456789abcdef",
    CSEK_BASE64: Buffer.alloc(32, 0xa5).toString("base64"),
    CSEK_SHORT: "too-short-a-key",
  });
  gcs = verifier();
  work = await mkdtemp(join(tmpdir(), "gcs-driver-"));
  small = join(work, "small.txt");
  await writeFile(small, "a small artifact");
});

afterAll(async () => {
  await plugin?.stop();
  await proxy?.close();
  await rm(work, { recursive: true, force: true });
});

beforeEach(() => proxy.clear());

/** A configuration whose requests go through the recording proxy. */
function proxied(fields: Record<string, unknown> = {}): string {
  return configuration({ bucket: BUCKET, endpoint: proxy.endpoint, ...fields });
}

async function roundTrip(config: string, objectKey: string, source = small): Promise<void> {
  const client = plugin.client(config);
  await client.save(objectKey, source);
  const target = join(await mkdtemp(join(work, "load-")), "artifact");
  await client.load(objectKey, target);
  expect(await sha256File(target)).toBe(await sha256File(source));
}

async function objectNames(prefix: string): Promise<string[]> {
  const [files] = await gcs.bucket(BUCKET).getFiles({ prefix });
  return files.map((file) => file.name).sort();
}

/** The JSON API's CRC32C of a local file: base64 of the big-endian 4 bytes. */
async function crc32cOf(path: string): Promise<string> {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(crc32c(await readFile(path)) >>> 0);
  return bytes.toString("base64");
}

describe("endpoint", () => {
  it("every request goes to the configured endpoint", async () => {
    await roundTrip(proxied(), key("endpoint/via-proxy.txt"));
    const paths = proxy.exchanges.map((exchange) => `${exchange.method} ${exchange.url}`);
    expect(paths.some((path) => path.startsWith("POST /upload/storage/v1/b/driver-tests/o"))).toBe(
      true,
    );
    expect(paths.some((path) => path.includes("/storage/v1/b/driver-tests/o/"))).toBe(true);
    expect(paths.some((path) => path.includes("alt=media"))).toBe(true);
  });
});

describe("directories are prefixes ending in /", () => {
  // Argo's gcs driver lists `out` without the slash (so `out2/...` and `out.log`
  // come along) and deletes one object only: neither happens here.
  const out = key("siblings/out");

  beforeAll(async () => {
    const tree = join(work, "out");
    await mkdir(join(tree, "sub"), { recursive: true });
    await writeFile(join(tree, "a.txt"), "a");
    await writeFile(join(tree, "sub", "b.txt"), "b");
    const sibling = join(work, "out2");
    await mkdir(sibling);
    await writeFile(join(sibling, "c.txt"), "c");
    const client = plugin.client(configuration({ bucket: BUCKET }));
    await client.save(out, tree);
    await client.save(key("siblings/out2"), sibling);
    await client.save(key("siblings/out.log"), small);
  });

  it("listing and loading `out` leave out `out2/...` and `out.log`", async () => {
    const client = plugin.client(configuration({ bucket: BUCKET }));
    expect((await client.list(out)).sort()).toEqual([`${out}/a.txt`, `${out}/sub/b.txt`]);
    const target = join(work, "out-loaded");
    await client.load(out, target);
    expect([...(await treeDigest(target)).keys()].sort()).toEqual(["a.txt", "sub/b.txt"]);
  });

  it("deleting `out` removes the whole directory and nothing beside it", async () => {
    const client = plugin.client(configuration({ bucket: BUCKET }));
    await client.delete(out);
    expect(await objectNames(key("siblings/"))).toEqual([
      key("siblings/out.log"),
      key("siblings/out2/c.txt"),
    ]);
    expect(await client.isDirectory(out)).toBe(false);
    expect(await client.isDirectory(key("siblings/out2"))).toBe(true);
  });
});

describe("paged listing", () => {
  it("follows page tokens until the last page", async () => {
    const client = plugin.client(proxied({ listPageSize: 2 }));
    const tree = join(work, "five");
    await mkdir(tree);
    for (let i = 0; i < 5; i++) await writeFile(join(tree, `${i}.txt`), `${i}`);
    await client.save(key("pages"), tree);
    proxy.clear();
    expect((await client.list(key("pages"))).length).toBe(5);
    const listings = proxy.exchanges.filter(
      (exchange) => exchange.method === "GET" && /\/b\/driver-tests\/o\?/.test(exchange.url),
    );
    // One probe of the first page (is it a directory?), then the three pages of the listing.
    expect(listings.length).toBe(4);
    expect(listings.every((exchange) => exchange.url.includes("maxResults=2"))).toBe(true);
    expect(listings.map((exchange) => exchange.url.includes("pageToken="))).toEqual([
      false,
      false,
      true,
      true,
    ]);
  });

  it("a directory of 1,100 objects: save, list, load and delete across 100-object pages", async () => {
    const tree = join(work, "many");
    for (let folder = 0; folder < 11; folder++) {
      await mkdir(join(tree, `f${folder}`), { recursive: true });
      await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          writeFile(join(tree, `f${folder}`, `${i}.txt`), `${folder}/${i}`),
        ),
      );
    }
    const client = plugin.client(proxied({ listPageSize: 100, parallelism: 16 }));
    await client.save(key("many"), tree);
    proxy.clear();
    const listed = await client.list(key("many"));
    expect(new Set(listed).size).toBe(1100);
    expect(proxy.matching("maxResults=100").length).toBeGreaterThanOrEqual(11);
    const target = join(work, "many-loaded");
    await client.load(key("many"), target);
    expect(await treeDigest(target)).toEqual(await treeDigest(tree));
    await client.delete(key("many"));
    expect(await objectNames(key("many/"))).toEqual([]);
  }, 300_000);
});

describe("uploads", () => {
  it("files up to resumableThreshold go in one multipart request, larger ones and streams as resumable sessions; files carry their CRC32C up front", async () => {
    const client = plugin.client(proxied({ resumableThreshold: 1 * MiB }));
    const large = join(work, "two-mib.bin");
    await writeRandomFile(large, 2 * MiB);
    await client.save(key("uploads/small.txt"), small);
    await client.save(key("uploads/large.bin"), large);
    await client.saveStream(key("uploads/stream.txt"), [Buffer.from("streamed")]);

    const multipart = proxy.matching("uploadType=multipart");
    expect(multipart.map((exchange) => exchange.url)).toEqual([
      expect.stringContaining(encodeURIComponent(key("uploads/small.txt"))),
    ]);
    expect(multipart[0]?.body).toContain(`"crc32c":"${await crc32cOf(small)}"`);
    const sessions = proxy.exchanges.filter(
      (exchange) => exchange.method === "POST" && exchange.url.includes("uploadType=resumable"),
    );
    expect(sessions.map((exchange) => decodeURIComponent(exchange.url))).toEqual([
      expect.stringContaining(key("uploads/large.bin")),
      expect.stringContaining(key("uploads/stream.txt")),
    ]);
    expect(sessions[0]?.body).toContain(`"crc32c":"${await crc32cOf(large)}"`);
    // A stream's checksum is known at its end only: the SDK compares it with the object's then.
    expect(sessions[1]?.body).not.toContain("crc32c");
    const [metadata] = await gcs.bucket(BUCKET).file(key("uploads/large.bin")).getMetadata();
    expect(metadata.crc32c).toBe(await crc32cOf(large));
    expect(Number(metadata.size)).toBe(2 * MiB);
  });

  it("chunkSize splits a resumable upload into requests of that size", async () => {
    const source = join(work, "chunked.bin");
    await writeRandomFile(source, 600 * 1024);
    await roundTrip(
      proxied({ resumableThreshold: 0, chunkSize: 256 * 1024 }),
      key("chunked"),
      source,
    );
    const ranges = proxy.exchanges
      .filter((exchange) => exchange.method === "PUT")
      .map((exchange) => exchange.headers["content-range"]);
    expect(ranges).toEqual([
      "bytes 0-262143/*",
      "bytes 262144-524287/*",
      "bytes 524288-614399/614400",
    ]);
  });

  it("storageClass goes with every upload", async () => {
    await roundTrip(proxied({ storageClass: "NEARLINE" }), key("class/small.txt"));
    const [metadata] = await gcs.bucket(BUCKET).file(key("class/small.txt")).getMetadata();
    expect(metadata.storageClass).toBe("NEARLINE");
    // fake-gcs-server keeps a resumable session's class to itself: check the request.
    await plugin.client(proxied({ storageClass: "COLDLINE" })).saveStream(key("class/s"), ["x"]);
    expect(proxy.matching("uploadType=resumable")[0]?.body).toContain('"storageClass":"COLDLINE"');
  });

  it("kmsKeyName names the Cloud KMS key on every upload", async () => {
    const kmsKeyName = "projects/p/locations/europe-west1/keyRings/argo/cryptoKeys/artifacts";
    await roundTrip(proxied({ kmsKeyName, resumableThreshold: 1024 }), key("kms/small.txt"));
    const large = join(work, "kms.bin");
    await writeRandomFile(large, 4096);
    await plugin
      .client(proxied({ kmsKeyName, resumableThreshold: 1024 }))
      .save(key("kms/l"), large);
    const uploads = proxy.exchanges.filter((exchange) => exchange.method === "POST");
    expect(uploads.length).toBe(2);
    for (const upload of uploads) {
      expect(decodeURIComponent(upload.url)).toContain(`kmsKeyName=${kmsKeyName}`);
    }
  });
});

describe("customer-supplied encryption keys", () => {
  // fake-gcs-server stores bytes as sent and checks no key: these tests show
  // the key goes with every request that touches the object's bytes.
  it.each([
    ["raw 32 bytes", "CSEK_RAW", Buffer.from("0123456789abcdef0123456789abcdef")],
    ["base64", "CSEK_BASE64", Buffer.alloc(32, 0xa5)],
  ])("a %s key round-trips, sent with uploads and downloads", async (_, env, raw) => {
    const config = proxied({ encryptionKeySecret: { env }, resumableThreshold: 1024 });
    const large = join(work, `csek-${env}.bin`);
    await writeRandomFile(large, 64 * 1024);
    await roundTrip(config, key(`csek/${env}/small.txt`));
    await roundTrip(config, key(`csek/${env}/large.bin`), large);
    const carrying = proxy.exchanges.filter(
      (exchange) => exchange.url.includes("/upload/") || exchange.url.includes("alt=media"),
    );
    expect(carrying.length).toBeGreaterThanOrEqual(5);
    for (const exchange of carrying) {
      expect(exchange.headers["x-goog-encryption-algorithm"]).toBe("AES256");
      expect(exchange.headers["x-goog-encryption-key"]).toBe(raw.toString("base64"));
      expect(exchange.headers["x-goog-encryption-key-sha256"]).toBe(
        createHash("sha256").update(raw).digest("base64"),
      );
    }
  });

  it("a binary key (32 random bytes, not UTF-8) from a file secret is sent byte for byte", async () => {
    const raw = randomBytes(32);
    raw[0] = 0xff;
    const file = join(work, "csek-binary.key");
    await writeFile(file, raw);
    const config = proxied({ encryptionKeySecret: { file } });
    await roundTrip(config, key("csek/binary/small.txt"));
    const carrying = proxy.exchanges.filter(
      (exchange) => exchange.url.includes("/upload/") || exchange.url.includes("alt=media"),
    );
    expect(carrying.length).toBeGreaterThanOrEqual(2);
    for (const exchange of carrying) {
      expect(exchange.headers["x-goog-encryption-key"]).toBe(raw.toString("base64"));
    }
    const logs = plugin.logs.join("\n");
    expect(logs).not.toContain(raw.toString("base64"));
    expect(logs).not.toContain(raw.toString("hex"));
  });

  it("refuses a key of the wrong length without showing it, and CSEK together with KMS", async () => {
    const short = await failureMessage(
      plugin.client(proxied({ encryptionKeySecret: { env: "CSEK_SHORT" } })).save(key("x"), small),
    );
    expect(short).toMatch(/must be 32 bytes, raw or base64-encoded \(it has 15 bytes\)/);
    expect(short).toContain("[invalid-config]");
    expect(short).not.toContain("too-short-a-key");
    const both = await failureMessage(
      plugin
        .client(
          proxied({
            encryptionKeySecret: { env: "CSEK_RAW" },
            kmsKeyName: "projects/p/locations/l/keyRings/r/cryptoKeys/k",
          }),
        )
        .save(key("x"), small),
    );
    expect(both).toMatch(
      /"encryptionKeySecret" \(CSEK\) and "kmsKeyName" \(CMEK\) cannot be used together/,
    );
    expect(proxy.exchanges).toEqual([]);
  });
});
