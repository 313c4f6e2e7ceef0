import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { ArtifactClient } from "@argo-artifact-drivers/client";
import {
  failureMessage,
  sha256File,
  type TestPlugin,
  writeRandomFile,
} from "@argo-artifact-drivers/conformance";
import {
  CreateBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { type Exchange, FaultProxy } from "./fault-proxy.js";
import { configuration, startPlugin, verifier } from "./plugin.js";

/**
 * Parts and ranges failing or stalling at the HTTP level, through a proxy in
 * front of moto: each is retried alone under the user's retry policy, a
 * failure stops its siblings, and the multipart upload is aborted (or the
 * partial file removed) only once every sibling has stopped.
 */
const MiB = 1024 * 1024;
const PART = 5 * MiB;
const SIZE = 12 * MiB; // parts or ranges of 5, 5 and 2 MiB
const STALL_MS = 5000;
const BUCKET = "fault-tests";
const run = randomBytes(4).toString("hex");
const key = (name: string) => `faults-${run}/${name}`;

let plugin: TestPlugin;
let proxy: FaultProxy;
let s3: S3Client;
let work: string;
let source: string;
let client: ArtifactClient;

beforeAll(async () => {
  plugin = await startPlugin();
  proxy = await FaultProxy.start(inject("endpoint"));
  s3 = verifier();
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  work = await mkdtemp(join(tmpdir(), "s3-faults-"));
  source = join(work, "source.bin");
  await writeRandomFile(source, SIZE);
  await s3.send(
    new PutObjectCommand({
      Bucket: BUCKET,
      Key: key("ranged.bin"),
      Body: createReadStream(source),
      ContentLength: SIZE,
    }),
  );
  client = plugin.client(
    configuration({
      bucket: BUCKET,
      endpoint: proxy.endpoint,
      partSize: PART,
      uploadConcurrency: 4,
      downloadConcurrency: 4,
      retry: { attempts: 3, initialDelaySeconds: 0.05, factor: 1 },
    }),
  );
});

beforeEach(() => {
  proxy.rule = () => undefined;
  proxy.exchanges.length = 0;
});

afterAll(async () => {
  await plugin?.stop();
  await proxy?.close();
  s3?.destroy();
  await rm(work, { recursive: true, force: true });
});

const part = (exchange: Exchange, number: number) =>
  exchange.method === "PUT" && exchange.query.get("partNumber") === String(number);
const range = (exchange: Exchange, start: number) =>
  exchange.method === "GET" && exchange.range?.startsWith(`bytes=${start}-`) === true;
const matching = (test: (exchange: Exchange) => boolean) => proxy.exchanges.filter(test);
const creates = () => matching((e) => e.method === "POST" && e.query.has("uploads"));
const aborts = () => matching((e) => e.method === "DELETE" && e.query.has("uploadId"));
const failOnce = (test: (exchange: Exchange) => boolean) => (exchange: Exchange) =>
  test(exchange) && matching(test).length === 1
    ? { status: 500, code: "InternalError" }
    : undefined;

async function expectSameBytes(objectKey: string): Promise<void> {
  const target = join(await mkdtemp(join(work, "load-")), "artifact");
  await client.load(objectKey, target);
  expect(await sha256File(target)).toBe(await sha256File(source));
}

/** The stalled exchange was cut by the plugin well before its stall ended, and before the call answered. */
function expectStoppedEarly(stalled: Exchange | undefined, answered: number): void {
  expect(stalled?.outcome).toBe("closed");
  expect(stalled?.ended).toBeLessThanOrEqual(answered);
  expect((stalled?.ended ?? Infinity) - (stalled?.started ?? 0)).toBeLessThan(STALL_MS);
}

async function expectNoUploadLeft(objectKey: string): Promise<void> {
  const uploads = await s3.send(
    new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: objectKey }),
  );
  expect(uploads.Uploads ?? []).toEqual([]);
  await expect(
    s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: objectKey })),
  ).rejects.toThrow();
}

describe("multipart uploads", () => {
  it("a part that fails once is sent again alone, not the whole file", async () => {
    proxy.rule = failOnce((e) => part(e, 2));
    await client.save(key("retried.bin"), source);
    expect(matching((e) => part(e, 2))).toHaveLength(2);
    expect(matching((e) => part(e, 1))).toHaveLength(1);
    expect(matching((e) => part(e, 3))).toHaveLength(1);
    expect(creates()).toHaveLength(1);
    await expectSameBytes(key("retried.bin"));
  });

  it("a part that keeps failing is tried retry.attempts times; its siblings stop and the upload is aborted after them", async () => {
    proxy.rule = (e) =>
      part(e, 2)
        ? { status: 500, code: "InternalError" }
        : part(e, 3)
          ? { delayMs: STALL_MS }
          : undefined;
    const message = await failureMessage(client.save(key("failed.bin"), source));
    const answered = Date.now();
    expect(message).toContain("[transient]");
    expect(message).toContain("after 3 tries");
    // Three tries in all: the core does not retry a part's exhausted retries again.
    expect(matching((e) => part(e, 2))).toHaveLength(3);
    expect(creates()).toHaveLength(1);
    expectStoppedEarly(matching((e) => part(e, 3))[0], answered);
    const [abort] = aborts();
    expect(aborts()).toHaveLength(1);
    const partsEnded = Math.max(
      ...matching((e) => e.query.has("partNumber")).map((e) => e.ended ?? Infinity),
    );
    expect(abort?.started).toBeGreaterThanOrEqual(partsEnded);
    const before = proxy.exchanges.length;
    await sleep(1000);
    expect(proxy.exchanges).toHaveLength(before);
    await expectNoUploadLeft(key("failed.bin"));
  });

  it("a streamed part that fails once is sent again alone", async () => {
    proxy.rule = failOnce((e) => part(e, 2));
    await client.saveStream(key("stream.bin"), createReadStream(source));
    expect(matching((e) => part(e, 2))).toHaveLength(2);
    expect(matching((e) => part(e, 3))).toHaveLength(1);
    expect(creates()).toHaveLength(1);
    await expectSameBytes(key("stream.bin"));
  });

  it("a streamed part refused for good aborts the upload, leaving nothing", async () => {
    proxy.rule = (e) => (part(e, 2) ? { status: 403, code: "AccessDenied" } : undefined);
    const message = await failureMessage(
      client.saveStream(key("stream-failed.bin"), createReadStream(source)),
    );
    expect(message).toContain("[permission-denied]");
    expect(matching((e) => part(e, 2))).toHaveLength(1);
    expect(aborts()).toHaveLength(1);
    await expectNoUploadLeft(key("stream-failed.bin"));
  });
});

describe("ranged downloads", () => {
  it("a range that fails once is fetched again alone", async () => {
    proxy.rule = failOnce((e) => range(e, PART));
    await expectSameBytes(key("ranged.bin"));
    expect(matching((e) => range(e, PART))).toHaveLength(2);
    expect(matching((e) => range(e, 0))).toHaveLength(1);
    expect(matching((e) => range(e, 2 * PART))).toHaveLength(1);
  });

  it("a range refused for good stops its siblings and leaves no file", async () => {
    proxy.rule = (e) =>
      range(e, PART)
        ? // Refused once its stalled sibling has surely been sent too.
          { status: 403, code: "AccessDenied", delayMs: 300 }
        : range(e, 2 * PART)
          ? { delayMs: STALL_MS }
          : undefined;
    const into = await mkdtemp(join(work, "failed-load-"));
    const message = await failureMessage(client.load(key("ranged.bin"), join(into, "artifact")));
    const answered = Date.now();
    expect(message).toContain("[permission-denied]");
    expect(matching((e) => range(e, PART))).toHaveLength(1);
    expectStoppedEarly(matching((e) => range(e, 2 * PART))[0], answered);
    expect(proxy.exchanges.every((e) => (e.ended ?? Infinity) <= answered)).toBe(true);
    expect(await readdir(into)).toEqual([]);
  });
});
