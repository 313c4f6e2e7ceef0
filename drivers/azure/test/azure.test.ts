// Azure-specific behaviour through the real plugin process, on Azurite.
import { createHash, randomBytes } from "node:crypto";
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
import type { ContainerClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createProxy, DEV_KEY } from "./backend.js";
import { configuration, container, startPlugin } from "./plugin.js";

const MiB = 1024 * 1024;
const run = randomBytes(4).toString("hex");
const key = (name: string) => `azure-${run}/${name}`;

let plugin: TestPlugin;
let blobs: ContainerClient;
let work: string;
let small: string;

beforeAll(async () => {
  plugin = await startPlugin();
  blobs = container("tests");
  work = await mkdtemp(join(tmpdir(), "azure-driver-"));
  small = join(work, "small.txt");
  await writeFile(small, "a small artifact");
});

afterAll(async () => {
  await plugin?.stop();
  await rm(work, { recursive: true, force: true });
});

async function roundTrip(config: string, objectKey: string, source = small): Promise<void> {
  const client = plugin.client(config);
  await client.save(objectKey, source);
  const target = join(await mkdtemp(join(work, "load-")), "artifact");
  await client.load(objectKey, target);
  expect(await sha256File(target)).toBe(await sha256File(source));
}

async function names(prefix: string): Promise<string[]> {
  const found: string[] = [];
  for await (const item of blobs.listBlobsFlat({ prefix })) found.push(item.name);
  return found.sort();
}

describe("directories are prefixes with the slash", () => {
  it("deleting `out` leaves `out2/...` and `output.log` alone (Argo's built-in driver deletes them)", async () => {
    const client = plugin.client(configuration({}));
    const tree = join(work, "out-tree");
    await mkdir(join(tree, "sub"), { recursive: true });
    await writeFile(join(tree, "a.txt"), "a");
    await writeFile(join(tree, "sub", "b.txt"), "b");
    await client.save(key("sib/out"), tree);
    await client.save(key("sib/out2/keep.txt"), small);
    await client.save(key("sib/output.log"), small);
    // What a bare-prefix listing, as Argo's driver makes, would take for `out`:
    expect(await names(key("sib/out"))).toEqual(
      [
        key("sib/out/a.txt"),
        key("sib/out/sub/b.txt"),
        key("sib/out2/keep.txt"),
        key("sib/output.log"),
      ].sort(),
    );

    expect((await client.list(key("sib/out"))).sort()).toEqual(
      [key("sib/out/a.txt"), key("sib/out/sub/b.txt")].sort(),
    );
    const loaded = join(work, "out-loaded");
    await client.load(key("sib/out"), loaded);
    expect([...(await treeDigest(loaded)).keys()].sort()).toEqual(["a.txt", "sub/b.txt"]);

    await client.delete(key("sib/out"));
    expect(await names(key("sib/"))).toEqual([key("sib/out2/keep.txt"), key("sib/output.log")]);
    expect(await client.isDirectory(key("sib/out"))).toBe(false);
    expect(await client.isDirectory(key("sib/out2"))).toBe(true);
  });

  it("`out` as a file and `out/` as a directory are told apart", async () => {
    const client = plugin.client(configuration({}));
    await client.save(key("kinds/report"), small);
    await client.save(key("kinds/report.d/x.txt"), small);
    expect(await client.isDirectory(key("kinds/report"))).toBe(false);
    expect(await client.isDirectory(key("kinds/report.d"))).toBe(true);
    await client.delete(key("kinds/report"));
    expect(await names(key("kinds/"))).toEqual([key("kinds/report.d/x.txt")]);
  });
});

describe("listing in pages", () => {
  it("saves, lists, loads and deletes a directory of 1,050 blobs, 100 per listing page", async () => {
    const tree = join(work, "many");
    await mkdir(join(tree, "nested"), { recursive: true });
    const files = Array.from({ length: 1050 }, (_, i) =>
      i % 3 === 0 ? `nested/file-${i}.txt` : `file-${i}.txt`,
    );
    await Promise.all(files.map((file, i) => writeFile(join(tree, file), `blob ${i}\n`)));
    const client = plugin.client(configuration({ listPageSize: 100, parallelism: 16 }));
    await client.save(key("many"), tree);

    const listed = await client.list(key("many"));
    expect(listed).toHaveLength(1050);
    expect(new Set(listed)).toEqual(new Set(files.map((file) => key(`many/${file}`))));
    const loaded = join(work, "many-loaded");
    await client.load(key("many"), loaded);
    expect(await treeDigest(loaded)).toEqual(await treeDigest(tree));

    await client.delete(key("many"));
    expect(await names(key("many/"))).toEqual([]);
  });
});

describe("integrity", () => {
  it("a blob changed after upload fails to load (MD5 mismatch) and leaves nothing at the path", async () => {
    const client = plugin.client(configuration({ blockSize: MiB }));
    const source = join(work, "guarded.bin");
    await writeRandomFile(source, 3 * MiB + 1);
    await client.save(key("corrupt/guarded.bin"), source);
    const blob = blobs.getBlockBlobClient(key("corrupt/guarded.bin"));
    const stored = await blob.getProperties();
    expect(stored.contentMD5).toBeDefined();
    // Bit rot, or a writer that kept the old Content-MD5: Put Block List stores it unchecked.
    const tampered = randomBytes(3 * MiB + 1);
    const id = Buffer.from("tampered-0").toString("base64");
    await blob.stageBlock(id, tampered, tampered.length);
    await blob.commitBlockList([id], { blobHTTPHeaders: { blobContentMD5: stored.contentMD5 } });
    expect((await blob.getProperties()).contentMD5).toEqual(stored.contentMD5);

    const into = await mkdtemp(join(work, "corrupt-"));
    const message = await failureMessage(
      client.load(key("corrupt/guarded.bin"), join(into, "guarded.bin")),
    );
    expect(message).toMatch(/corrupt: its content hashes to MD5 .*, but its Content-MD5 is/);
    expect(message).toContain(key("corrupt/guarded.bin"));
    expect(await readdir(into)).toEqual([]);

    const chunks: Buffer[] = [];
    const streamed = failureMessage(
      (async () => {
        for await (const chunk of client.openStream(key("corrupt/guarded.bin"))) chunks.push(chunk);
      })(),
    );
    expect(await streamed).toMatch(/corrupt/);
  });

  it("blobs without a Content-MD5 (staged by other tools) load unchecked", async () => {
    const data = randomBytes(2 * MiB);
    const blob = blobs.getBlockBlobClient(key("corrupt/foreign.bin"));
    const id = Buffer.from("block-0").toString("base64");
    await blob.stageBlock(id, data, data.length);
    await blob.commitBlockList([id]);
    expect((await blob.getProperties()).contentMD5).toBeUndefined();
    const target = join(work, "foreign.bin");
    await plugin.client(configuration({})).load(key("corrupt/foreign.bin"), target);
    expect(await sha256File(target)).toBe(createHash("sha256").update(data).digest("hex"));
  });
});

describe("broken connections", () => {
  it("Load and OpenStream resume after connections cut mid-body (Toxiproxy limit_data)", async () => {
    const data = randomBytes(20 * MiB);
    await blobs.getBlockBlobClient(key("reset/big.bin")).upload(data, data.length);
    const proxy = await createProxy(inject("toxiproxy"), inject("azuritePort"));
    try {
      // Every connection through the proxy closes after 6 MiB towards the client.
      await proxy.cutAfter(6 * MiB);
      const endpoint = `http://127.0.0.1:${proxy.port}/devstoreaccount1`;
      // Control: the SDK alone does not survive the cut.
      const direct = container("tests", endpoint).getBlobClient(key("reset/big.bin"));
      const body = (await direct.download()).readableStreamBody;
      await expect(
        (async () => {
          for await (const _ of body ?? []) {
          }
        })(),
      ).rejects.toThrow();

      const client = plugin.client(configuration({ endpoint }));
      const target = join(work, "reset-loaded.bin");
      await client.load(key("reset/big.bin"), target);
      const expected = createHash("sha256").update(data).digest("hex");
      expect(await sha256File(target)).toBe(expected);

      const hash = createHash("sha256");
      for await (const chunk of client.openStream(key("reset/big.bin"))) hash.update(chunk);
      expect(hash.digest("hex")).toBe(expected);
    } finally {
      await proxy.delete();
    }
  });

  it("a connection that goes silent is dropped after networkTimeoutSeconds, not waited on forever", async () => {
    const proxy = await createProxy(inject("toxiproxy"), inject("azuritePort"));
    try {
      await proxy.silence();
      const endpoint = `http://127.0.0.1:${proxy.port}/devstoreaccount1`;
      const client = plugin.client(
        configuration({
          endpoint,
          networkTimeoutSeconds: 1,
          retry: { attempts: 2, initialDelaySeconds: 0.1 },
        }),
      );
      const started = performance.now();
      const message = await failureMessage(client.isDirectory(key("silent/x")));
      expect(message).toMatch(
        /no data for 1 s \(networkTimeoutSeconds\).*\(after 2 tries\).*\[transient\]/,
      );
      expect(performance.now() - started).toBeLessThan(10_000);
    } finally {
      await proxy.delete();
    }
  });
});

describe("clear errors", () => {
  it("a wrong account key is refused as permission denied, naming the account and no secret", async () => {
    const client = plugin.client(configuration({ accountKeySecret: { env: "AZURE_WRONG_KEY" } }));
    for (const call of [
      () => client.isDirectory(key("denied/x")),
      () => client.save(key("denied/x"), small),
      () => client.list(key("denied")),
    ]) {
      const message = await failureMessage(call());
      expect(message).toMatch(/account key or SAS token in accountKeySecret is wrong/);
      expect(message).toMatch(/account "devstoreaccount1"/);
      expect(message).toMatch(/HTTP 403.*\[permission-denied\]/);
      expect(message).not.toContain(DEV_KEY);
      expect(message).not.toContain(Buffer.alloc(64, 7).toString("base64"));
    }
  });

  it("a missing container is named", async () => {
    const client = plugin.client(configuration({ container: "no-such-container" }));
    for (const call of [() => client.isDirectory(key("x")), () => client.save(key("x"), small)]) {
      expect(await failureMessage(call())).toMatch(
        /the container "no-such-container" does not exist in account "devstoreaccount1".*\[not-found\]/,
      );
    }
  });

  it("an unreachable endpoint is named, with the reason", async () => {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}/devstoreaccount1`;
    const client = plugin.client(configuration({ endpoint, retry: { attempts: 1 } }));
    const message = await failureMessage(client.isDirectory(key("x")));
    expect(message).toContain(`cannot connect to ${endpoint}`);
    expect(message).toMatch(/ECONNREFUSED.*\[unavailable\]/);
  });

  it("a SAS token of another container is refused without its signature in the message", async () => {
    const client = plugin.client(
      configuration({ container: "other", accountKeySecret: { env: "AZURE_TEST_SAS" } }),
    );
    const message = await failureMessage(client.save(key("sas/x"), small));
    expect(message).toMatch(/\[permission-denied\]/);
    expect(message).not.toContain(inject("containerSas").split("sig=")[1] ?? "no signature");
  });

  it("configurations that cannot work are refused before any request", async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ accountKeySecret: undefined }, /no credentials: set accountKeySecret .* or useSDKCreds/],
      [{ useSDKCreds: true }, /either accountKeySecret or useSDKCreds/],
      [
        { accountKeySecret: { env: "AZURE_NOT_A_KEY" } },
        /neither a base64 account key nor a SAS token/,
      ],
      [{ endpoint: "https://acct.blob.core.windows.net?sv=1&sig=x" }, /must not have a query/],
      [{ container: "Bad_Name" }, /container/],
    ];
    const checker = await startPlugin({ AZURE_NOT_A_KEY: "not a key!" });
    try {
      for (const [fields, pattern] of cases) {
        const message = await failureMessage(
          checker.client(configuration(fields)).isDirectory("x"),
        );
        expect(message).toMatch(pattern);
        expect(message).toMatch(/\[invalid-config\]/);
      }
    } finally {
      await checker.stop();
    }
  });
});

describe("endpoints", () => {
  it("HTTPS with the endpoint's private CA from caSecret, and a clear failure without it", async () => {
    const tls = { endpoint: inject("tlsEndpoint") };
    await roundTrip(
      configuration({ ...tls, caSecret: { file: inject("caFile") } }),
      key("tls/a.txt"),
    );
    const message = await failureMessage(
      plugin
        .client(configuration({ ...tls, retry: { attempts: 1 } }))
        .isDirectory(key("tls/a.txt")),
    );
    expect(message).toMatch(
      /TLS certificate of https:\/\/127\.0\.0\.1:\d+\/devstoreaccount1 is not trusted/,
    );
    expect(message).toMatch(/\[unavailable\]/);
  });

  it("an emulator's account in the path works on any host name, e.g. a Service called azurite", async () => {
    const endpoint = inject("endpoint").replace("127.0.0.1", "azurite");
    const config = configuration({ endpoint, retry: { attempts: 1 } });
    // This machine's resolver does not know the name: the plugin must have asked for it.
    expect(await failureMessage(plugin.client(config).isDirectory(key("host/x")))).toMatch(
      /ENOTFOUND azurite/,
    );
    const resolving = await startPlugin({
      NODE_OPTIONS: `--import=${join(import.meta.dirname, "fixtures", "azurite-resolver.mjs")}`,
    });
    try {
      const client = resolving.client(config);
      await client.save(key("host/a.txt"), small);
      expect(await client.list(key("host"))).toEqual([key("host/a.txt")]);
    } finally {
      await resolving.stop();
    }
    expect(await names(key("host/"))).toEqual([key("host/a.txt")]);
  });
});
