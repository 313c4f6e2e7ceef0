// The adapter driven in-process, for what a plugin process cannot be handed:
// a token credential object, and a look at the blocks and headers it stored.
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import type { ContainerClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { AzureAdapter } from "../src/adapter.js";
import { azureConfig } from "../src/driver.js";
import { DEV_KEY } from "./backend.js";
import { testContext } from "./context.js";
import { container as verifier } from "./plugin.js";

const MiB = 1024 * 1024;
const run = randomBytes(4).toString("hex");
const key = (name: string) => `adapter-${run}/${name}`;
const signal = new AbortController().signal;

let work: string;
let blobs: ContainerClient;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "azure-adapter-"));
  blobs = verifier("tests");
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** An adapter for `fields` (endpoint, container and key default to the plain Azurite). */
async function adapter(
  fields: Record<string, unknown> = {},
  options: { credential?: TokenCredential; secrets?: Record<string, string> } = {},
) {
  const config = z.object(azureConfig).parse({
    endpoint: inject("endpoint"),
    container: "tests",
    ...(options.credential ? {} : { accountKeySecret: { env: "KEY" } }),
    ...fields,
  });
  const context = testContext({ KEY: DEV_KEY, ...options.secrets });
  const created = await AzureAdapter.create(config, context, {
    ...(options.credential ? { credential: options.credential } : {}),
  });
  return { adapter: created, context };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const md5 = (data: Buffer) => createHash("md5").update(data).digest("base64");

describe("uploads", () => {
  it("stages a file larger than blockSize as equal-length blocks and stores its Content-MD5", async () => {
    const { adapter: azure } = await adapter({ blockSize: MiB, uploadConcurrency: 3 });
    const data = randomBytes(5 * MiB + 123);
    const file = join(work, "blocks.bin");
    await writeFile(file, data);
    await azure.writeFromFile(key("blocks.bin"), file, { signal, size: data.length });

    const blob = blobs.getBlockBlobClient(key("blocks.bin"));
    const list = await blob.getBlockList("all");
    expect(list.committedBlocks?.map((block) => block.size)).toEqual([
      MiB,
      MiB,
      MiB,
      MiB,
      MiB,
      123,
    ]);
    expect(new Set(list.committedBlocks?.map((block) => block.name.length)).size).toBe(1);
    const properties = await blob.getProperties();
    expect(Buffer.from(properties.contentMD5 ?? []).toString("base64")).toBe(md5(data));
    expect(await readAll(await azure.read(key("blocks.bin"), { signal }))).toEqual(data);
    await azure.close();
  });

  it("sends a file up to blockSize as one Put Blob, with its Content-MD5", async () => {
    const { adapter: azure } = await adapter({ blockSize: MiB });
    const data = randomBytes(MiB);
    const file = join(work, "single.bin");
    await writeFile(file, data);
    await azure.writeFromFile(key("single.bin"), file, { signal, size: data.length });
    const blob = blobs.getBlockBlobClient(key("single.bin"));
    expect((await blob.getBlockList("all")).committedBlocks ?? []).toHaveLength(0);
    const properties = await blob.getProperties();
    expect(Buffer.from(properties.contentMD5 ?? []).toString("base64")).toBe(md5(data));
    await azure.close();
  });

  it("cuts a stream into blocks, and commits nothing when the stream fails", async () => {
    const { adapter: azure } = await adapter({ blockSize: MiB, uploadConcurrency: 2 });
    const data = randomBytes(3 * MiB + 5);
    // Odd chunk sizes, so that blocks are assembled from pieces of chunks.
    const pieces = [
      data.subarray(0, 700_001),
      data.subarray(700_001, 2_500_000),
      data.subarray(2_500_000),
    ];
    await azure.write(key("stream.bin"), Readable.from(pieces), { signal });
    const blob = blobs.getBlockBlobClient(key("stream.bin"));
    expect((await blob.getBlockList("committed")).committedBlocks?.length).toBe(4);
    const properties = await blob.getProperties();
    expect(Buffer.from(properties.contentMD5 ?? []).toString("base64")).toBe(md5(data));
    expect(await readAll(await azure.read(key("stream.bin"), { signal }))).toEqual(data);

    async function* failing() {
      yield randomBytes(2 * MiB + 1);
      throw new Error("the client went away");
    }
    await expect(
      azure.write(key("stream.bin"), Readable.from(failing()), { signal }),
    ).rejects.toThrow(/the client went away/);
    // The old blob is still there, whole.
    expect(await readAll(await azure.read(key("stream.bin"), { signal }))).toEqual(data);
    await expect(
      azure.write(key("never.bin"), Readable.from(failing()), { signal }),
    ).rejects.toThrow();
    expect(await azure.stat(key("never.bin"), { signal })).toBe("missing");
    await azure.close();
  });

  it("saves with the configured access tier", async () => {
    const { adapter: azure } = await adapter({ accessTier: "Cool", blockSize: MiB });
    const file = join(work, "tier.bin");
    await writeFile(file, randomBytes(2 * MiB + 1));
    await azure.writeFromFile(key("tier/blocks.bin"), file, { signal, size: 2 * MiB + 1 });
    await azure.write(key("tier/stream.bin"), Readable.from([Buffer.from("cool")]), { signal });
    for (const name of ["tier/blocks.bin", "tier/stream.bin"]) {
      const properties = await blobs.getBlobClient(key(name)).getProperties();
      expect(properties.accessTier).toBe("Cool");
    }
    await azure.close();
  });
});

describe("hierarchical-namespace folders", () => {
  it("are neither files nor listed, and go last when a prefix is deleted", async () => {
    const { adapter: azure } = await adapter();
    // What Data Lake Storage shows through the Blob API for folders: empty blobs marked hdi_isfolder.
    const folder = { metadata: { hdi_isfolder: "true" } };
    await blobs.getBlockBlobClient(key("hns/out")).upload("", 0, folder);
    await blobs.getBlockBlobClient(key("hns/out/sub")).upload("", 0, folder);
    await blobs.getBlockBlobClient(key("hns/out/sub/file.txt")).upload("data", 4);
    expect(await azure.stat(key("hns/out"), { signal })).toBe("directory");
    const listed: string[] = [];
    for await (const name of azure.list?.(key("hns/out"), { signal }) ?? []) listed.push(name);
    expect(listed).toEqual([key("hns/out/sub/file.txt")]);
    await azure.deletePrefix(key("hns/out"), { signal });
    const left: string[] = [];
    for await (const item of blobs.listBlobsFlat({ prefix: key("hns/out/") })) left.push(item.name);
    expect(left).toEqual([]);
    await azure.close();
  });
});

describe("token credentials", () => {
  /** What Azure AD would issue for Storage; Azurite's `--oauth basic` checks the claims, not the signature. */
  function token(audience: string, expiresInSeconds = 3600): AccessToken {
    const now = Math.floor(Date.now() / 1000);
    const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const claims = {
      aud: audience,
      iss: "https://sts.windows.net/ab1f708d-50f6-404c-a006-d71b2ac7a606/",
      nbf: now - 60,
      iat: now - 60,
      exp: now + expiresInSeconds,
      oid: "00000000-0000-0000-0000-000000000001",
      tid: "ab1f708d-50f6-404c-a006-d71b2ac7a606",
    };
    return {
      token: `${part({ alg: "RS256", typ: "JWT" })}.${part(claims)}.${Buffer.from("not signed").toString("base64url")}`,
      expiresOnTimestamp: (now + expiresInSeconds) * 1000,
    };
  }

  function credential(audience: string) {
    const scopes: string[][] = [];
    const issued: TokenCredential & { scopes: string[][] } = {
      scopes,
      async getToken(scope) {
        scopes.push([scope].flat());
        return token(audience);
      },
    };
    return issued;
  }

  const tls = async () => ({
    endpoint: inject("tlsEndpoint"),
    caSecret: { env: "CA" },
  });

  it("authenticates every call with a bearer token over HTTPS", async () => {
    const issued = credential("https://storage.azure.com");
    const { adapter: azure } = await adapter(await tls(), {
      credential: issued,
      secrets: { CA: await readFile(inject("caFile"), "utf8") },
    });
    const file = join(work, "token.bin");
    const data = randomBytes(3 * MiB);
    await writeFile(file, data);
    await azure.writeFromFile(key("token/file.bin"), file, { signal, size: data.length });
    expect(await readAll(await azure.read(key("token/file.bin"), { signal }))).toEqual(data);
    expect(await azure.stat(key("token"), { signal })).toBe("directory");
    await azure.deletePrefix(key("token"), { signal });
    expect(await azure.stat(key("token"), { signal })).toBe("missing");
    expect(issued.scopes[0]).toEqual(["https://storage.azure.com/.default"]);
    await azure.close();
  });

  it("reports a token for another audience as permission denied", async () => {
    const { adapter: azure } = await adapter(await tls(), {
      credential: credential("https://management.azure.com"),
      secrets: { CA: await readFile(inject("caFile"), "utf8") },
    });
    const failure = await azure.stat(key("token/any"), { signal }).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: "permission-denied" });
    await azure.close();
  });

  it("refuses to send a token over plain HTTP", async () => {
    await expect(
      adapter({}, { credential: credential("https://storage.azure.com") }),
    ).rejects.toThrow(/needs an https:\/\/ endpoint/);
  });

  it("useSDKCreds builds the SDK's DefaultAzureCredential (not called here: it would probe the network)", async () => {
    const { createClient } = await import("../src/client.js");
    const config = z.object(azureConfig).parse({
      endpoint: "https://myaccount.blob.core.windows.net",
      container: "artifacts",
      useSDKCreds: true,
    });
    // The operator's switch decides; the core reads it when the context is made.
    const saved = process.env.ARTIFACT_DRIVER_AMBIENT_CREDENTIALS;
    const context = (value: string) => {
      process.env.ARTIFACT_DRIVER_AMBIENT_CREDENTIALS = value;
      try {
        return testContext();
      } finally {
        if (saved === undefined) delete process.env.ARTIFACT_DRIVER_AMBIENT_CREDENTIALS;
        else process.env.ARTIFACT_DRIVER_AMBIENT_CREDENTIALS = saved;
      }
    };
    await expect(createClient(config, context("deny"))).rejects.toThrow(
      /field "useSDKCreds" would use the Azure SDK's DefaultAzureCredential/,
    );
    const client = await createClient(config, context("allow"));
    expect(client.auth).toBe("DefaultAzureCredential");
    expect(client.service.credential.constructor.name).toBe("DefaultAzureCredential");
    expect(client.service.url).toBe("https://myaccount.blob.core.windows.net/");
    client.close();
  });
});

describe("SAS tokens", () => {
  it("works with or without a leading '?', and only on its container", async () => {
    const sas = inject("containerSas");
    for (const secret of [sas, `?${sas}`]) {
      const { adapter: azure } = await adapter(
        { container: "sas-only", accountKeySecret: { env: "SAS" } },
        { secrets: { SAS: `${secret}\n` } },
      );
      await azure.write(key("sas.txt"), Readable.from([Buffer.from(secret)]), { signal });
      expect((await readAll(await azure.read(key("sas.txt"), { signal }))).toString()).toBe(secret);
      await azure.close();
    }
    const { adapter: elsewhere } = await adapter(
      { container: "other", accountKeySecret: { env: "SAS" } },
      { secrets: { SAS: sas } },
    );
    const failure = await elsewhere
      .stat(key("sas.txt"), { signal })
      .catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: "permission-denied" });
    expect(String((failure as Error).message)).not.toMatch(/sig=(?!REDACTED)/);
    await elsewhere.close();
  });
});
