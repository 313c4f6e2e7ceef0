import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  failureMessage,
  type KubernetesStandIn,
  startKubernetesStandIn,
  type TestPlugin,
} from "@argo-artifact-drivers/conformance";
import type { S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startPlugin, verifier } from "./plugin.js";

const BUCKET = "secret-tests";
const run = randomBytes(4).toString("hex");
const key = (name: string) => `s3-secrets-${run}/${name}`;

/** 32 random bytes that are not UTF-8 (as most random keys are not): text decoding would mangle them. */
function binaryKey(): Buffer {
  const bytes = randomBytes(32);
  bytes[0] = 0xff;
  return bytes;
}

/** A configuration without static keys unless given, as YAML of JSON values. */
function config(fields: Record<string, unknown>): string {
  return Object.entries({ endpoint: inject("endpoint"), bucket: BUCKET, ...fields })
    .map(([name, value]) => `${name}: ${JSON.stringify(value)}`)
    .join("\n");
}

let work: string;
let source: string;
let s3: S3Client;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "s3-secrets-"));
  source = join(work, "artifact.txt");
  await writeFile(source, `an encrypted artifact ${run}\n`);
  s3 = verifier();
  const plugin = await startPlugin();
  try {
    await plugin
      .client(
        config({
          accessKeySecret: { env: "WRITER_ACCESS_KEY" },
          secretKeySecret: { env: "WRITER_SECRET_KEY" },
          createBucketIfNotPresent: {},
        }),
      )
      .save(key("created"), source);
  } finally {
    await plugin.stop();
  }
});

afterAll(async () => {
  s3?.destroy();
  await rm(work, { recursive: true, force: true });
});

async function loaded(plugin: TestPlugin, configuration: string, name: string): Promise<string> {
  const target = join(await mkdtemp(join(work, "load-")), "artifact");
  await plugin.client(configuration).load(key(name), target);
  return readFile(target, "utf8");
}

/**
 * moto accepts SSE-C headers but neither stores nor checks the key (no moto
 * release implements SSE-C), so a recording proxy in front of it checks what
 * S3 would: every request for the object carries exactly these 32 bytes
 * (base64) and their MD5, which the SDK computes from the bytes it was given.
 */
async function recordingProxy(target: string): Promise<{
  endpoint: string;
  keys: { method: string; path: string; key?: string; md5?: string }[];
  close(): Promise<void>;
}> {
  const upstream = new URL(target);
  const keys: { method: string; path: string; key?: string; md5?: string }[] = [];
  const server = createServer((incoming, answer) => {
    const header = (name: string) => {
      const value = incoming.headers[name];
      return typeof value === "string" ? value : undefined;
    };
    keys.push({
      method: incoming.method ?? "GET",
      path: incoming.url ?? "",
      ...(header("x-amz-server-side-encryption-customer-key")
        ? { key: header("x-amz-server-side-encryption-customer-key") }
        : {}),
      ...(header("x-amz-server-side-encryption-customer-key-md5")
        ? { md5: header("x-amz-server-side-encryption-customer-key-md5") }
        : {}),
    });
    const forward = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: incoming.method,
        path: incoming.url,
        headers: incoming.headers,
      },
      (response) => {
        answer.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(answer);
      },
    );
    forward.on("error", () => answer.destroy());
    incoming.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    keys,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe("a binary SSE-C key from a Kubernetes Secret", () => {
  let api: KubernetesStandIn;
  let plugin: TestPlugin;
  let proxy: Awaited<ReturnType<typeof recordingProxy>>;
  const sseKey = binaryKey();

  beforeAll(async () => {
    const ids = inject("identities");
    proxy = await recordingProxy(inject("endpoint"));
    api = await startKubernetesStandIn({
      namespace: "argo",
      secrets: {
        "s3-creds": {
          accesskey: ids.writer.accessKeyId,
          secretkey: ids.writer.secretAccessKey,
          "sse-c": sseKey,
          "sse-c-base64": sseKey.toString("base64"),
          "sse-c-33": Buffer.concat([sseKey, Buffer.from([0xfe])]),
        },
      },
    });
    plugin = await startPlugin({ ...api.env, ARTIFACT_DRIVER_SECRET_SOURCES: "kubernetes" });
  });

  afterAll(async () => {
    expect(await plugin?.stop()).toBe(0);
    await api?.close();
    await proxy?.close();
  });

  const withKey = (secretKey: string) =>
    config({
      endpoint: proxy.endpoint,
      accessKeySecret: { name: "s3-creds", key: "accesskey" },
      secretKeySecret: { name: "s3-creds", key: "secretkey" },
      encryptionOptions: { serverSideCustomerKeySecret: { name: "s3-creds", key: secretKey } },
    });

  it("sends exactly the 32 bytes on every request for the object, raw or base64 in the Secret", async () => {
    const text = await readFile(source, "utf8");
    for (const [secretKey, name] of [
      ["sse-c", "sse-c.txt"],
      ["sse-c-base64", "sse-c-from-base64.txt"],
    ] as const) {
      proxy.keys.length = 0;
      await plugin.client(withKey(secretKey)).save(key(name), source);
      expect(await loaded(plugin, withKey(secretKey), name)).toBe(text);
      const forObject = proxy.keys.filter((seen) => seen.path.includes(name));
      const puts = forObject.filter((seen) => seen.method === "PUT");
      const gets = forObject.filter((seen) => seen.method === "GET");
      expect(puts.length).toBeGreaterThan(0);
      expect(gets.length).toBeGreaterThan(0);
      for (const seen of [...puts, ...gets]) {
        expect(seen.key, `${seen.method} ${seen.path}`).toBe(sseKey.toString("base64"));
        expect(seen.md5).toBe(createHash("md5").update(sseKey).digest("base64"));
      }
    }
  });

  it("refuses a key of the wrong length clearly, and shows no form of the key", async () => {
    const message = await failureMessage(
      plugin.client(withKey("sse-c-33")).save(key("sse-c-33.txt"), source),
    );
    expect(message).toMatch(
      /the SSE-C key in Kubernetes Secret "s3-creds" key "sse-c-33" must be 32 bytes, raw or base64-encoded \(it has 33 bytes\).*\[invalid-config\]/,
    );
    const everything = `${message}\n${plugin.logs.join("\n")}`;
    expect(everything).not.toContain(sseKey.toString("base64"));
    expect(everything).not.toContain(sseKey.toString("hex"));
  });
});

describe("ambient credentials (the container's own identity)", () => {
  // The AWS SDK's default chain finds these, as it would an IRSA or instance role identity.
  const ambient = () => {
    const ids = inject("identities");
    return {
      AWS_ACCESS_KEY_ID: ids.writer.accessKeyId,
      AWS_SECRET_ACCESS_KEY: ids.writer.secretAccessKey,
      ARGO_CONTAINER_NAME: "",
    };
  };
  const sdkCreds = config({ useSDKCreds: true });
  const role = () => config({ roleARN: inject("identities").roleArn });

  it("are refused by default outside workflow pods (beside argo-server), naming the field and the switch", async () => {
    const plugin = await startPlugin({ ...ambient(), ARTIFACT_DRIVER_AMBIENT_CREDENTIALS: "" });
    try {
      const message = await failureMessage(
        plugin.client(sdkCreds).save(key("ambient/refused.txt"), source),
      );
      expect(message).toMatch(
        /field "useSDKCreds" would use the AWS SDK's default credential chain.*ARTIFACT_DRIVER_AMBIENT_CREDENTIALS=allow.*\[invalid-config\]/,
      );
      const roleMessage = await failureMessage(
        plugin.client(role()).save(key("ambient/refused-role.txt"), source),
      );
      expect(roleMessage).toMatch(/field "roleARN" would use .*\[invalid-config\]/);
      // Static keys with the role are no ambient identity: not refused.
      await plugin
        .client(
          config({
            roleARN: inject("identities").roleArn,
            accessKeySecret: { env: "WRITER_ACCESS_KEY" },
            secretKeySecret: { env: "WRITER_SECRET_KEY" },
          }),
        )
        .save(key("ambient/role-with-keys.txt"), source);
    } finally {
      await plugin.stop();
    }
  });

  it("are refused where the operator says deny, even in a workflow pod", async () => {
    const plugin = await startPlugin({
      ...ambient(),
      ARGO_CONTAINER_NAME: "artifact-plugin-s3",
      ARTIFACT_DRIVER_AMBIENT_CREDENTIALS: "deny",
    });
    try {
      expect(
        await failureMessage(plugin.client(sdkCreds).save(key("ambient/denied.txt"), source)),
      ).toMatch(/ARTIFACT_DRIVER_AMBIENT_CREDENTIALS is deny\)/);
    } finally {
      await plugin.stop();
    }
  });

  it("use the SDK's chain when allowed: useSDKCreds, and roleARN assumed with it", async () => {
    const plugin = await startPlugin({
      ...ambient(),
      ARTIFACT_DRIVER_AMBIENT_CREDENTIALS: "allow",
    });
    try {
      await plugin.client(sdkCreds).save(key("ambient/sdk.txt"), source);
      expect(await loaded(plugin, sdkCreds, "ambient/sdk.txt")).toBe(
        await readFile(source, "utf8"),
      );
      await plugin.client(role()).save(key("ambient/role.txt"), source);
    } finally {
      await plugin.stop();
    }
  });

  it("are allowed by default in the plugin containers Argo adds to workflow pods", async () => {
    const plugin = await startPlugin({
      ...ambient(),
      ARTIFACT_DRIVER_AMBIENT_CREDENTIALS: "",
      ARGO_CONTAINER_NAME: "artifact-plugin-s3",
    });
    try {
      await plugin.client(sdkCreds).save(key("ambient/workflow-pod.txt"), source);
    } finally {
      await plugin.stop();
    }
  });
});
