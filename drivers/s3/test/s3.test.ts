import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  failureMessage,
  freePort,
  sha256File,
  type TestPlugin,
  treeDigest,
  writeRandomFile,
} from "@argo-artifact-drivers/conformance";
import {
  GetObjectLockConfigurationCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { configuration, startPlugin, verifier, writerKeys } from "./plugin.js";

const MiB = 1024 * 1024;
const BUCKET = "driver-tests";
const run = randomBytes(4).toString("hex");
const key = (name: string) => `s3-${run}/${name}`;

let plugin: TestPlugin;
let s3: S3Client;
let work: string;
let small: string;

beforeAll(async () => {
  plugin = await startPlugin();
  s3 = verifier();
  work = await mkdtemp(join(tmpdir(), "s3-driver-"));
  small = join(work, "small.txt");
  await writeFile(small, "a small artifact");
  // Creates the bucket every other test uses.
  await plugin
    .client(configuration({ bucket: BUCKET, createBucketIfNotPresent: {} }))
    .save(key("created"), small);
});

afterAll(async () => {
  s3?.destroy();
  await plugin?.stop();
  await rm(work, { recursive: true, force: true });
});

/** Saves `source` with `config`, loads it back and compares the bytes. */
async function roundTrip(config: string, objectKey: string, source = small): Promise<void> {
  const client = plugin.client(config);
  await client.save(objectKey, source);
  const target = join(await mkdtemp(join(work, "load-")), "artifact");
  await client.load(objectKey, target);
  expect(await sha256File(target)).toBe(await sha256File(source));
}

async function timed<T>(call: Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await call;
  return [result, performance.now() - started];
}

describe("credentials", () => {
  it("static keys from {env} secret references", async () => {
    await roundTrip(configuration({ bucket: BUCKET }), key("creds/env.txt"));
  });

  it("static keys from {file} secret references", async () => {
    const ids = inject("identities");
    await writeFile(join(work, "access-key"), `${ids.writer.accessKeyId}\n`);
    await writeFile(join(work, "secret-key"), ids.writer.secretAccessKey);
    await roundTrip(
      configuration({
        bucket: BUCKET,
        accessKeySecret: { file: join(work, "access-key") },
        secretKeySecret: { file: join(work, "secret-key") },
      }),
      key("creds/file.txt"),
    );
  });

  it("temporary keys with a session token, and a clear refusal without the token", async () => {
    const temporary = {
      bucket: BUCKET,
      accessKeySecret: { env: "TEMP_ACCESS_KEY" },
      secretKeySecret: { env: "TEMP_SECRET_KEY" },
    };
    await roundTrip(
      configuration({ ...temporary, sessionTokenSecret: { env: "TEMP_SESSION_TOKEN" } }),
      key("creds/session.txt"),
    );
    const message = await failureMessage(
      plugin.client(configuration(temporary)).save(key("creds/no-token.txt"), small),
    );
    expect(message).toMatch(/does not know the access key ID/);
    expect(message).toContain("[permission-denied]");
  });

  it("role assumption through STS with the static keys", async () => {
    await roundTrip(
      configuration({ bucket: BUCKET, roleARN: inject("identities").roleArn }),
      key("creds/role.txt"),
    );
  });

  it("role assumption refused to an identity the role does not trust", async () => {
    const message = await failureMessage(
      plugin
        .client(
          configuration({
            bucket: BUCKET,
            roleARN: inject("identities").roleArn,
            accessKeySecret: { env: "NOBODY_ACCESS_KEY" },
            secretKeySecret: { env: "NOBODY_SECRET_KEY" },
          }),
        )
        .save(key("creds/untrusted.txt"), small),
    );
    expect(message).toMatch(/sts:AssumeRole/);
    expect(message).toContain("[permission-denied]");
  });

  it("a wrong secret key fails fast, saying so and naming bucket, key and endpoint", async () => {
    const config = configuration({ bucket: BUCKET, secretKeySecret: { env: "WRONG_SECRET_KEY" } });
    const [message, ms] = await timed(
      failureMessage(plugin.client(config).load(key("created"), join(work, "x"))),
    );
    expect(message).toMatch(/secret access key is wrong/);
    expect(message).toContain(`bucket "${BUCKET}" at ${inject("endpoint")}`);
    expect(message).toContain(JSON.stringify(key("created")));
    expect(message).toContain("[permission-denied]");
    expect(message).not.toContain("not-the-secret-key");
    expect(ms).toBeLessThan(5000);
  });

  it("an unknown access key fails fast", async () => {
    const config = configuration({
      bucket: BUCKET,
      accessKeySecret: { env: "UNKNOWN_ACCESS_KEY" },
    });
    const [message, ms] = await timed(
      failureMessage(plugin.client(config).save(key("unknown"), small)),
    );
    expect(message).toMatch(/does not know the access key ID/);
    expect(ms).toBeLessThan(5000);
  });

  it("an identity without permissions is denied, naming the bucket", async () => {
    const config = configuration({
      bucket: BUCKET,
      accessKeySecret: { env: "NOBODY_ACCESS_KEY" },
      secretKeySecret: { env: "NOBODY_SECRET_KEY" },
    });
    const message = await failureMessage(plugin.client(config).save(key("denied"), small));
    expect(message).toMatch(/access to bucket "driver-tests" .* was denied .*AccessDenied/);
    expect(message).toContain("[permission-denied]");
  });

  it("only one of the two static key fields is refused as invalid configuration", async () => {
    const config = JSON.stringify({
      endpoint: inject("endpoint"),
      bucket: BUCKET,
      accessKeySecret: writerKeys.accessKeySecret,
    });
    const message = await failureMessage(plugin.client(config).save(key("half"), small));
    expect(message).toMatch(/secretKeySecret/);
    expect(message).toContain("[invalid-config]");
  });
});

describe("endpoints and addressing", () => {
  it("an unreachable endpoint fails within seconds, naming it", async () => {
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    const config = configuration({ bucket: BUCKET, endpoint });
    const [message, ms] = await timed(
      failureMessage(plugin.client(config).save(key("unreachable"), small)),
    );
    expect(message).toContain(`cannot connect to ${endpoint}`);
    expect(message).toContain("[unavailable]");
    expect(ms).toBeLessThan(5000);
  });

  it("a missing bucket is reported as such", async () => {
    const config = configuration({ bucket: "no-such-bucket" });
    const message = await failureMessage(
      plugin.client(config).load(key("created"), join(work, "y")),
    );
    expect(message).toMatch(/the bucket "no-such-bucket" does not exist at http:\/\/127\.0\.0\.1/);
    expect(message).toContain("[not-found]");
  });

  it("path-style addressing on a host name", async () => {
    const endpoint = inject("endpoint").replace("127.0.0.1", "localhost");
    await roundTrip(
      configuration({ bucket: BUCKET, endpoint, addressingStyle: "path" }),
      key("addressing/path.txt"),
    );
  });

  it("virtual-hosted addressing sends requests to bucket.host", async () => {
    const endpoint = inject("endpoint").replace("127.0.0.1", "localhost");
    const config = configuration({ bucket: BUCKET, endpoint, addressingStyle: "virtual-hosted" });
    // This machine's resolver does not know driver-tests.localhost: the plugin must have asked for it.
    const message = await failureMessage(
      plugin.client(config).save(key("addressing/vhost.txt"), small),
    );
    expect(message).toMatch(/cannot connect to .*ENOTFOUND driver-tests\.localhost/);
    // With *.localhost resolving to loopback (RFC 6761), moto reads the bucket from the host name.
    const resolving = await startPlugin({
      NODE_OPTIONS: `--import=${join(import.meta.dirname, "fixtures", "localhost-resolver.mjs")}`,
    });
    try {
      const client = resolving.client(config);
      await client.save(key("addressing/vhost.txt"), small);
      const target = join(work, "vhost.txt");
      await client.load(key("addressing/vhost.txt"), target);
      expect(await sha256File(target)).toBe(await sha256File(small));
    } finally {
      await resolving.stop();
    }
  });

  it("HTTPS with the endpoint's CA from caSecret, and a clear failure without it", async () => {
    const tls = {
      endpoint: inject("tlsEndpoint"),
      bucket: "tls-bucket",
      createBucketIfNotPresent: {},
    };
    await roundTrip(
      configuration({ ...tls, caSecret: { file: inject("caFile") } }),
      key("tls/with-ca.txt"),
    );
    const message = await failureMessage(
      plugin.client(configuration(tls)).save(key("tls/no-ca.txt"), small),
    );
    expect(message).toMatch(/certificate/i);
    expect(message).toContain("[unavailable]");
  });
});

describe("buckets", () => {
  it("createBucketIfNotPresent with objectLocking creates a locked bucket", async () => {
    const bucket = `locked-${run}`;
    await roundTrip(
      configuration({ bucket, createBucketIfNotPresent: { objectLocking: true } }),
      key("locked.txt"),
    );
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    const lock = await s3.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }));
    expect(lock.ObjectLockConfiguration?.ObjectLockEnabled).toBe("Enabled");
  });
});

describe("server-side encryption and storage class", () => {
  async function head(objectKey: string) {
    return s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: objectKey }));
  }

  it("SSE-S3", async () => {
    const config = configuration({ bucket: BUCKET, encryptionOptions: { enableEncryption: true } });
    await roundTrip(config, key("sse/s3.txt"));
    expect((await head(key("sse/s3.txt"))).ServerSideEncryption).toBe("AES256");
  });

  it("SSE-KMS with a key ID and an encryption context, on a multipart upload too", async () => {
    const config = configuration({
      bucket: BUCKET,
      partSize: 5 * MiB,
      encryptionOptions: {
        enableEncryption: true,
        kmsKeyId: "alias/artifacts",
        kmsEncryptionContext: '{"team":"data"}',
      },
    });
    const large = join(work, "kms.bin");
    await writeRandomFile(large, 11 * MiB);
    await roundTrip(config, key("sse/kms.bin"), large);
    const result = await head(key("sse/kms.bin"));
    expect(result.ServerSideEncryption).toBe("aws:kms");
    expect(result.SSEKMSKeyId).toBe("alias/artifacts");
    expect(result.ETag).toMatch(/-3"$/);
  });

  it("SSE-C with a raw 32-byte key, single and multipart", async () => {
    const config = configuration({
      bucket: BUCKET,
      partSize: 5 * MiB,
      encryptionOptions: { serverSideCustomerKeySecret: { env: "SSE_C_KEY" } },
    });
    const sseC = await startPlugin({ SSE_C_KEY: "0123456789abcdef0123456789abcdef" });
    try {
      const client = sseC.client(config);
      const large = join(work, "ssec.bin");
      await writeRandomFile(large, 11 * MiB);
      for (const [name, source] of [
        ["ssec.txt", small],
        ["ssec.bin", large],
      ] as const) {
        await client.save(key(`sse/${name}`), source);
        const target = join(work, `loaded-${name}`);
        await client.load(key(`sse/${name}`), target);
        expect(await sha256File(target)).toBe(await sha256File(source));
      }
    } finally {
      await sseC.stop();
    }
  });

  it("refuses SSE-C together with SSE-S3/KMS, and keys of the wrong length", async () => {
    const both = configuration({
      bucket: BUCKET,
      encryptionOptions: {
        enableEncryption: true,
        serverSideCustomerKeySecret: { env: "WRITER_SECRET_KEY" },
      },
    });
    expect(await failureMessage(plugin.client(both).save(key("sse/both"), small))).toMatch(
      /cannot be used together.*\[invalid-config\]/,
    );
    const short = configuration({
      bucket: BUCKET,
      encryptionOptions: { serverSideCustomerKeySecret: { env: "WRONG_SECRET_KEY" } },
    });
    const message = await failureMessage(plugin.client(short).save(key("sse/short"), small));
    expect(message).toMatch(/must be 32 bytes.*\[invalid-config\]/);
    expect(message).not.toContain("not-the-secret-key");
  });

  it("storageClass", async () => {
    await roundTrip(
      configuration({ bucket: BUCKET, storageClass: "STANDARD_IA" }),
      key("class.txt"),
    );
    expect((await head(key("class.txt"))).StorageClass).toBe("STANDARD_IA");
  });
});

describe("large artifacts", () => {
  it("a 110 MiB file goes up in parallel parts and comes back in parallel ranges", async () => {
    const large = join(work, "large.bin");
    await writeRandomFile(large, 110 * MiB);
    const client = plugin.client(configuration({ bucket: BUCKET, downloadConcurrency: 4 }));
    await client.save(key("large/large.bin"), large);
    const result = await s3.send(
      new HeadObjectCommand({ Bucket: BUCKET, Key: key("large/large.bin") }),
    );
    expect(result.ContentLength).toBe(110 * MiB);
    // 110 MiB in 16 MiB parts (the default partSize).
    expect(result.ETag).toMatch(/-7"$/);
    const target = join(work, "large-loaded.bin");
    await client.load(key("large/large.bin"), target);
    expect(await sha256File(target)).toBe(await sha256File(large));
    await rm(target);
  });

  it("a directory of 1,100 objects: save, list (paginated), load, delete (batched)", async () => {
    const tree = join(work, "many");
    const count = 1100;
    for (let folder = 0; folder < 11; folder++) {
      await mkdir(join(tree, `f${folder}`), { recursive: true });
      await Promise.all(
        Array.from({ length: count / 11 }, (_, i) =>
          writeFile(join(tree, `f${folder}`, `${i}.txt`), `${folder}/${i}`),
        ),
      );
    }
    const client = plugin.client(configuration({ bucket: BUCKET, parallelism: 16 }));
    await client.save(key("many"), tree);
    const listed = await client.list(key("many"));
    expect(listed).toHaveLength(count);
    expect(new Set(listed).size).toBe(count);
    const target = join(work, "many-loaded");
    await client.load(key("many"), target);
    expect(await treeDigest(target)).toEqual(await treeDigest(tree));
    expect((await readdir(target)).length).toBe(11);
    await client.delete(key("many"));
    expect(await client.isDirectory(key("many"))).toBe(false);
  });
});
