import { verify } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  failureMessage,
  type KubernetesStandIn,
  PluginProcess,
  startKubernetesStandIn,
  type TestPlugin,
} from "@argo-artifact-drivers/conformance";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createBucket } from "./backend.js";
import {
  configuration,
  entrypoint,
  type GeneratedKey,
  generateServiceAccountKey,
  startPlugin,
  timed,
} from "./plugin.js";
import { FaultProxy } from "./proxy.js";

const BUCKET = "credentials";
const MiB = 1024 * 1024;

/**
 * fake-gcs-server checks no credentials at all. So these tests look at what
 * the plugin sends: a proxy in front of the emulator records every request,
 * and each token must be a JWT that verifies with the generated key's public
 * half. A service-account key therefore signs for real here; only GCS's own
 * acceptance of it is out of reach.
 */
describe("a service-account key from a Kubernetes Secret", () => {
  let api: KubernetesStandIn;
  let plugin: PluginProcess;
  let proxy: FaultProxy;
  let work: string;
  let key: GeneratedKey;

  beforeAll(async () => {
    key = generateServiceAccountKey();
    api = await startKubernetesStandIn({
      namespace: "argo",
      secrets: { "gcs-credentials": { "serviceAccountKey.json": key.json } },
    });
    proxy = await FaultProxy.start(inject("endpoint"));
    await createBucket(inject("endpoint"), BUCKET);
    work = await mkdtemp(join(tmpdir(), "gcs-k8s-"));
    plugin = await PluginProcess.start(entrypoint, join(work, "socket"), api.env);
  });

  afterAll(async () => {
    expect(await plugin.stop()).toBe(0);
    await proxy.close();
    await api.close();
    await rm(work, { recursive: true, force: true });
  });

  const fromSecret = {
    bucket: BUCKET,
    serviceAccountKeySecret: { name: "gcs-credentials", key: "serviceAccountKey.json" },
  };

  /** The claims of a bearer token after checking its RS256 signature with `publicKey`. */
  function verifiedClaims(authorization: string | undefined, publicKey: string) {
    expect(authorization).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    const [header, payload, signature] = (authorization ?? "").slice(7).split(".") as [
      string,
      string,
      string,
    ];
    const signed = verify(
      "RSA-SHA256",
      Buffer.from(`${header}.${payload}`),
      publicKey,
      Buffer.from(signature, "base64url"),
    );
    expect(signed, "the token is signed with the service account's key").toBe(true);
    return {
      header: JSON.parse(Buffer.from(header, "base64url").toString()) as Record<string, unknown>,
      claims: JSON.parse(Buffer.from(payload, "base64url").toString()) as Record<string, unknown>,
    };
  }

  it("signs every request with the key read from the Secret (small, resumable and streamed uploads, listing, download, delete)", async () => {
    const client = plugin.client(configuration({ ...fromSecret, endpoint: proxy.endpoint }));
    try {
      await writeFile(join(work, "small.txt"), "signed\n");
      await writeFile(join(work, "large.bin"), Buffer.alloc(9 * MiB, 7));
      await client.save("signed/small.txt", join(work, "small.txt"));
      await client.save("signed/large.bin", join(work, "large.bin"));
      await client.saveStream("signed/stream.txt", [Buffer.from("streamed\n")]);
      expect((await client.list("signed")).sort()).toEqual([
        "signed/large.bin",
        "signed/small.txt",
        "signed/stream.txt",
      ]);
      await client.load("signed/small.txt", join(work, "loaded.txt"));
      expect(await readFile(join(work, "loaded.txt"), "utf8")).toBe("signed\n");
      await client.delete("signed");
      expect(api.requests).toContain("/api/v1/namespaces/argo/secrets/gcs-credentials");
    } finally {
      client.close();
    }
    // A resumable session's URI is its own authorization: its PUTs carry no token.
    const session = (url: string) => url.includes("upload_id=");
    const signed = proxy.exchanges.filter((exchange) => !session(exchange.url));
    expect(signed.map((exchange) => exchange.method).sort()).toEqual(
      expect.arrayContaining(["DELETE", "GET", "POST"]),
    );
    expect(proxy.matching("uploadType=resumable").length).toBeGreaterThanOrEqual(2);
    expect(proxy.matching("uploadType=multipart").length).toBeGreaterThanOrEqual(1);
    for (const exchange of signed) {
      const { header, claims } = verifiedClaims(exchange.headers.authorization, key.publicKey);
      expect(header.kid).toBe(key.privateKeyId);
      expect(claims.iss).toBe(key.clientEmail);
      expect(claims.sub).toBe(key.clientEmail);
      expect(claims.scope).toBe("https://www.googleapis.com/auth/devstorage.read_write");
      expect(Number(claims.exp) - Number(claims.iat)).toBeLessThanOrEqual(3600);
    }
    const other = generateServiceAccountKey();
    const token = signed[0]?.headers.authorization?.slice(7) ?? "";
    const [header, payload, signature] = token.split(".") as [string, string, string];
    expect(
      verify(
        "RSA-SHA256",
        Buffer.from(`${header}.${payload}`),
        other.publicKey,
        Buffer.from(signature, "base64url"),
      ),
      "another key does not verify it",
    ).toBe(false);
  });

  it("names a missing Secret and its namespace", async () => {
    const client = plugin.client(
      configuration({
        bucket: BUCKET,
        serviceAccountKeySecret: { name: "no-such-secret", key: "serviceAccountKey.json" },
      }),
    );
    try {
      await expect(client.isDirectory("anything")).rejects.toThrow(
        'Kubernetes Secret "no-such-secret" in namespace "argo" does not exist',
      );
    } finally {
      client.close();
    }
  });
});

describe("refused credentials", () => {
  let plugin: TestPlugin;
  const key = generateServiceAccountKey();
  const privateKeyBody = (JSON.parse(key.json) as { private_key: string }).private_key.split(
    "\n",
  )[1] as string;

  beforeAll(async () => {
    await createBucket(inject("endpoint"), BUCKET);
    plugin = await startPlugin({
      NOT_JSON: "this is not a key",
      USER_CREDENTIALS: JSON.stringify({
        type: "authorized_user",
        client_id: "x",
        client_secret: "secret-of-a-user",
        refresh_token: "1//refresh",
      }),
      NO_PRIVATE_KEY: JSON.stringify({ ...JSON.parse(key.json), private_key: undefined }),
      BROKEN_PRIVATE_KEY: JSON.stringify({
        ...JSON.parse(key.json),
        private_key: `-----BEGIN PRIVATE KEY-----\n${privateKeyBody.slice(0, 40)}\n-----END PRIVATE KEY-----\n`,
      }),
      GOOD_KEY: key.json,
      // Application Default Credentials are the container's own identity: allowed here, so they are looked for.
      ARTIFACT_DRIVER_AMBIENT_CREDENTIALS: "allow",
    });
  });

  afterAll(async () => {
    await plugin?.stop();
  });

  it.each([
    ["NOT_JSON", /is not JSON/],
    ["USER_CREDENTIALS", /has type "authorized_user"; only "service_account" keys are supported/],
    ["NO_PRIVATE_KEY", /has no "private_key"/],
    ["BROKEN_PRIVATE_KEY", /has a "private_key" that is not a PEM private key/],
  ])("a wrong key in %s is refused at once, saying why without its content", async (env, why) => {
    const config = configuration({ bucket: BUCKET, serviceAccountKeySecret: { env } });
    const [message, ms] = await timed(
      failureMessage(plugin.client(config).isDirectory("anything")),
    );
    expect(message).toMatch(why);
    expect(message).toContain(`the service-account key in environment variable ${env}`);
    expect(message).toContain("[invalid-config]");
    for (const secret of ["secret-of-a-user", "1//refresh", privateKeyBody.slice(0, 40)]) {
      expect(message).not.toContain(secret);
    }
    expect(ms).toBeLessThan(3000);
  });

  it("a key together with anonymous is refused", async () => {
    const config = [
      configuration({ bucket: BUCKET, serviceAccountKeySecret: { env: "GOOD_KEY" } }),
      "anonymous: true",
    ].join("\n");
    const message = await failureMessage(plugin.client(config).isDirectory("anything"));
    expect(message).toMatch(/"anonymous" and "serviceAccountKeySecret" cannot be used together/);
    expect(message).toContain("[invalid-config]");
  });

  it("without a key, missing Application Default Credentials fail fast and say what to set", async () => {
    // METADATA_SERVER_DETECTION=none (vitest.config.ts): no metadata server is asked.
    const config = configuration({ bucket: BUCKET, anonymous: undefined });
    expect(config).not.toMatch(/anonymous|serviceAccountKeySecret/);
    const [message, ms] = await timed(
      failureMessage(plugin.client(config).isDirectory("anything")),
    );
    expect(message).toMatch(
      /no credentials: serviceAccountKeySecret is not set and Application Default Credentials were not found/,
    );
    expect(message).toMatch(/Workload Identity/);
    expect(message).toContain("[permission-denied]");
    expect(ms).toBeLessThan(3000);
  });
});

describe("Application Default Credentials, the container's own identity", () => {
  const withoutKey = () => configuration({ bucket: BUCKET, anonymous: undefined });

  it.each([
    [
      "outside workflow pods (beside argo-server), by default",
      { ARGO_CONTAINER_NAME: "" },
      "by default outside workflow pods",
    ],
    [
      "where the operator says deny, even in a workflow pod",
      { ARGO_CONTAINER_NAME: "artifact-plugin-gcs", ARTIFACT_DRIVER_AMBIENT_CREDENTIALS: "deny" },
      "is deny)",
    ],
  ])("are refused %s, naming the field and the switch", async (_where, env, why) => {
    const plugin = await startPlugin({ ARTIFACT_DRIVER_AMBIENT_CREDENTIALS: "", ...env });
    try {
      const message = await failureMessage(plugin.client(withoutKey()).isDirectory("anything"));
      expect(message).toMatch(
        /field "serviceAccountKeySecret" would use Application Default Credentials .*ARTIFACT_DRIVER_AMBIENT_CREDENTIALS=allow.*\[invalid-config\]/,
      );
      expect(message).toContain(why);
    } finally {
      await plugin.stop();
    }
  });

  it("are looked for by default in the plugin containers Argo adds to workflow pods", async () => {
    const plugin = await startPlugin({
      ARTIFACT_DRIVER_AMBIENT_CREDENTIALS: "",
      ARGO_CONTAINER_NAME: "artifact-plugin-gcs",
    });
    try {
      // None are configured here, so the chain was tried and found nothing.
      const message = await failureMessage(plugin.client(withoutKey()).isDirectory("anything"));
      expect(message).toMatch(/Application Default Credentials were not found/);
    } finally {
      await plugin.stop();
    }
  });
});
