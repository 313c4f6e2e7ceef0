import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ArtifactClient } from "@argo-artifact-drivers/client";
import { type TestPlugin, treeDigest } from "@argo-artifact-drivers/conformance";
import {
  CreateBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configuration, startPlugin, verifier } from "./plugin.js";

/**
 * Zero-byte `name/` objects, as S3 consoles and some tools make for folders,
 * are not artifacts: a prefix holding only markers is no directory, and
 * listings and downloads leave them out. Only S3 has them, so the kit cannot
 * make them through the plugin.
 */
const BUCKET = "marker-tests";
const run = randomBytes(4).toString("hex");
const key = (name: string) => `markers-${run}/${name}`;

let plugin: TestPlugin;
let s3: S3Client;
let client: ArtifactClient;
let work: string;

async function put(objectKey: string, body = ""): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: BUCKET,
      Key: objectKey,
      Body: body,
      ContentLength: Buffer.byteLength(body),
    }),
  );
}

beforeAll(async () => {
  plugin = await startPlugin();
  s3 = verifier();
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  client = plugin.client(configuration({ bucket: BUCKET }));
  work = await mkdtemp(join(tmpdir(), "s3-markers-"));
});

afterAll(async () => {
  await plugin?.stop();
  s3?.destroy();
  await rm(work, { recursive: true, force: true });
});

describe("folder markers", () => {
  it("a bare marker is not a directory", async () => {
    await put(key("bare/"));
    expect(await client.isDirectory(key("bare"))).toBe(false);
    // As for a key where nothing exists.
    await expect(client.list(key("bare"))).rejects.toThrow(/\[not-found\]/);
  });

  it("markers of nested folders without an object are not a directory", async () => {
    await put(key("nested/"));
    await put(key("nested/sub/"));
    await put(key("nested/sub/deeper/"));
    expect(await client.isDirectory(key("nested"))).toBe(false);
    expect(await client.isDirectory(key("nested/sub"))).toBe(false);
  });

  it("an object below markers makes a directory that lists, loads and deletes without them", async () => {
    await put(key("full/"));
    await put(key("full/sub/"));
    await put(key("full/sub/a.txt"), "a");
    expect(await client.isDirectory(key("full"))).toBe(true);
    expect(await client.list(key("full"))).toEqual([key("full/sub/a.txt")]);
    const target = join(work, "full");
    await client.load(key("full"), target);
    expect([...(await treeDigest(target)).keys()]).toEqual(["sub/a.txt"]);
    expect(await readFile(join(target, "sub", "a.txt"), "utf8")).toBe("a");
    await client.delete(key("full"));
    const left = await s3.send(
      new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${key("full")}/` }),
    );
    expect(left.KeyCount ?? 0).toBe(0);
  });

  it("an object after more markers than one listing page is still found", async () => {
    const markers = Array.from({ length: 120 }, (_, i) =>
      key(`many/m${String(i).padStart(3, "0")}/`),
    );
    for (let i = 0; i < markers.length; i += 20) {
      await Promise.all(markers.slice(i, i + 20).map((marker) => put(marker)));
    }
    expect(await client.isDirectory(key("many"))).toBe(false);
    await put(key("many/z.txt"), "z");
    expect(await client.isDirectory(key("many"))).toBe(true);
  });
});
