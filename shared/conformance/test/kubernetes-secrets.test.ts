import { randomBytes } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  allowedSecretNames,
  allowedSecretSources,
  DriverError,
  type Logger,
  SecretRef,
  SecretResolver,
  secretText,
} from "@argo-artifact-drivers/core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type KubernetesStandIn, startKubernetesStandIn } from "../src/kubernetes-stand-in.js";

/** Secret references resolved by the core against a stand-in Kubernetes API server speaking the real protocol over HTTPS. */
describe("secret references", () => {
  let api: KubernetesStandIn;
  const saved = { ...process.env };

  beforeAll(async () => {
    api = await startKubernetesStandIn({
      namespace: "argo",
      secrets: { "s3-creds": { accessKey: "AKIAEXAMPLE", secretKey: "very-secret-value" } },
      forbidden: ["admin-creds"],
    });
    Object.assign(process.env, api.env);
  });

  afterAll(async () => {
    process.env = saved;
    await api.close();
  });

  const kubernetesOnly = () => new SecretResolver({ allowed: allowedSecretSources("kubernetes") });
  const ref = (name: string, key: string) => new SecretRef({ kind: "kubernetes", name, key });

  async function failure(promise: Promise<unknown>): Promise<DriverError> {
    const error = await promise.then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(DriverError);
    return error as DriverError;
  }

  it("reads a key of a Secret in the pod's namespace with the service account token", async () => {
    const resolver = kubernetesOnly();
    expect(String(await resolver.resolve(ref("s3-creds", "secretKey")))).toBe("very-secret-value");
    expect(api.requests.at(-1)).toBe("/api/v1/namespaces/argo/secrets/s3-creds");
  });

  it("reads each Secret once for a burst of references (one API call for a whole directory)", async () => {
    const resolver = kubernetesOnly();
    const before = api.requests.length;
    await Promise.all(
      Array.from({ length: 50 }, () => resolver.resolve(ref("s3-creds", "accessKey"))),
    );
    expect(api.requests.length - before).toBe(1);
  });

  it("notices a rotated Secret once the short cache expires", async () => {
    const resolver = new SecretResolver({
      allowed: allowedSecretSources("kubernetes"),
      cacheMs: 50,
    });
    expect(String(await resolver.resolve(ref("s3-creds", "accessKey")))).toBe("AKIAEXAMPLE");
    api.setSecret("s3-creds", { accessKey: "AKIAROTATED", secretKey: "rotated-secret" });
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(String(await resolver.resolve(ref("s3-creds", "accessKey")))).toBe("AKIAROTATED");
    api.setSecret("s3-creds", { accessKey: "AKIAEXAMPLE", secretKey: "very-secret-value" });
  });

  it("names the Secret, the namespace and what to do when it is missing", async () => {
    const error = await failure(kubernetesOnly().resolve(ref("nope", "key")));
    expect(error.code).toBe("invalid-config");
    expect(error.message).toBe('Kubernetes Secret "nope" in namespace "argo" does not exist');
  });

  it("lists the keys a Secret has when the key is wrong, never their values", async () => {
    const error = await failure(kubernetesOnly().resolve(ref("s3-creds", "secretkey")));
    expect(error.message).toContain('has no key "secretkey" (its keys: accessKey, secretKey)');
    expect(error.message).not.toContain("very-secret-value");
  });

  it("reports RBAC refusals as permission errors that say which grant is missing", async () => {
    const error = await failure(kubernetesOnly().resolve(ref("admin-creds", "key")));
    expect(error.code).toBe("permission-denied");
    expect(error.message).toMatch(/grant it "get" on this Secret/);
  });

  it("refuses env and file references unless the operator enabled them", async () => {
    process.env.STAND_IN_PASSWORD = "from-env";
    const refused = await failure(
      kubernetesOnly().resolve(new SecretRef({ kind: "env", name: "STAND_IN_PASSWORD" })),
    );
    expect(refused.code).toBe("invalid-config");
    expect(refused.message).toMatch(/ARTIFACT_DRIVER_SECRET_SOURCES/);
    expect(refused.message).not.toContain("from-env");

    const folder = await mkdtemp(join(tmpdir(), "secret-file-"));
    await writeFile(join(folder, "password"), "from-file\n");
    const resolver = new SecretResolver({ allowed: allowedSecretSources("env,file") });
    expect(
      String(await resolver.resolve(new SecretRef({ kind: "env", name: "STAND_IN_PASSWORD" }))),
    ).toBe("from-env");
    // Bytes as stored; the text accessor drops a file's trailing newline.
    const fileRef = new SecretRef({ kind: "file", path: join(folder, "password") });
    const fileBytes = await resolver.resolve(fileRef);
    expect(String(fileBytes)).toBe("from-file\n");
    expect(secretText(fileRef, fileBytes)).toBe("from-file");
    const kubernetesRefused = await failure(resolver.resolve(ref("s3-creds", "accessKey")));
    expect(kubernetesRefused.message).toMatch(/kubernetes secret references are disabled/);
  });

  it("reads only the Secrets the operator named in ARTIFACT_DRIVER_SECRET_NAMES, asking the API nothing else", async () => {
    const listed = new SecretResolver({
      allowed: allowedSecretSources("kubernetes"),
      names: allowedSecretNames("s3-creds, other"),
    });
    expect(String(await listed.resolve(ref("s3-creds", "accessKey")))).toBe("AKIAEXAMPLE");
    const before = api.requests.length;
    const refused = await failure(listed.resolve(ref("admin-creds", "key")));
    expect(refused.code).toBe("invalid-config");
    expect(refused.message).toBe(
      'Kubernetes Secret "admin-creds" key "key" is refused: this plugin may read only the Kubernetes Secrets its operator listed in ARTIFACT_DRIVER_SECRET_NAMES (other, s3-creds); use one of them, or ask the operator to add this one',
    );
    expect(api.requests.length).toBe(before);
    const none = new SecretResolver({
      allowed: allowedSecretSources("kubernetes"),
      names: allowedSecretNames(""),
    });
    expect((await failure(none.resolve(ref("s3-creds", "accessKey")))).message).toMatch(
      /ARTIFACT_DRIVER_SECRET_NAMES \(none\)/,
    );
    expect(allowedSecretNames(undefined)).toBeUndefined();
    expect(() => allowedSecretNames("good,Not_A_Name")).toThrow(
      /"Not_A_Name", which is not a Secret name/,
    );
  });

  it("rejects an unknown source name in ARTIFACT_DRIVER_SECRET_SOURCES", () => {
    expect(() => allowedSecretSources("kubernetes,vault")).toThrow(/unknown source "vault"/);
  });

  it("fails clearly outside a pod", async () => {
    const host = process.env.KUBERNETES_SERVICE_HOST;
    delete process.env.KUBERNETES_SERVICE_HOST;
    try {
      const error = await failure(kubernetesOnly().resolve(ref("s3-creds", "accessKey")));
      expect(error.message).toMatch(/not running in a Kubernetes pod/);
    } finally {
      process.env.KUBERNETES_SERVICE_HOST = host;
    }
  });

  it("prints references, never values", () => {
    expect(String(ref("s3-creds", "secretKey"))).toBe(
      'Kubernetes Secret "s3-creds" key "secretKey"',
    );
    expect(JSON.stringify({ password: ref("a", "b") })).toBe(
      '{"password":"Kubernetes Secret \\"a\\" key \\"b\\""}',
    );
  });
});

/**
 * Secrets as bytes, and refreshes against an API server in trouble: the
 * stand-in answers 429/5xx or stalls on demand.
 */
describe("secret values and refreshes", () => {
  let api: KubernetesStandIn;
  const saved = { ...process.env };
  const key32 = randomBytes(32);

  beforeAll(async () => {
    api = await startKubernetesStandIn({
      namespace: "argo",
      secrets: { creds: { password: "first-password", sseKey: key32 } },
    });
    Object.assign(process.env, api.env);
  });

  afterAll(async () => {
    process.env = saved;
    await api.close();
  });

  beforeEach(() => {
    api.fail(undefined);
    api.setSecret("creds", { password: "first-password", sseKey: key32 });
  });

  const ref = (key: string) => new SecretRef({ kind: "kubernetes", name: "creds", key });
  const warnings: string[] = [];
  const logger = {
    warn: (_fields: unknown, message: string) => warnings.push(message),
  } as unknown as Logger;
  const resolver = (options: { cacheMs?: number; timeoutMs?: number } = {}) =>
    new SecretResolver({
      allowed: allowedSecretSources("kubernetes"),
      cacheMs: options.cacheMs ?? 50,
      timeoutMs: options.timeoutMs ?? 2000,
      retryDelayMs: 20,
      logger,
    });
  const expired = () => new Promise((resolve) => setTimeout(resolve, 80));
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => {
        throw new Error("expected a failure");
      },
      (error: unknown) => error as DriverError,
    );

  it("hands out a binary value byte for byte, and refuses it where text is needed", async () => {
    // Binary keys are the norm for SSE-C and CSEK; UTF-8 decoding mangled 10,000 of 10,000.
    for (let i = 0; i < 200; i++) {
      const key = randomBytes(32);
      api.setSecret("creds", { sseKey: key });
      const bytes = await resolver({ cacheMs: 0 }).resolve(ref("sseKey"));
      expect(bytes.equals(key)).toBe(true);
    }
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x80]);
    let error: unknown;
    try {
      secretText(ref("sseKey"), binary);
    } catch (thrown) {
      error = thrown;
    }
    expect((error as DriverError).code).toBe("invalid-config");
    expect((error as DriverError).message).toBe(
      'Kubernetes Secret "creds" key "sseKey" holds 4 bytes that are not UTF-8 text, which this field needs',
    );
  });

  it("keeps serving the last value read while the API answers 503, with a warning", async () => {
    const secrets = resolver();
    expect(String(await secrets.resolve(ref("password")))).toBe("first-password");
    await expired();
    api.fail({ status: 503 });
    warnings.length = 0;
    const before = api.requests.length;
    expect(String(await secrets.resolve(ref("password")))).toBe("first-password");
    // Retried with backoff before falling back: 4 tries in all.
    expect(api.requests.length - before).toBe(4);
    expect(warnings.join("\n")).toMatch(
      /Kubernetes Secret "creds" in namespace "argo" cannot be read: HTTP 503 .*after 4 tries; using the value read \d+ s ago/,
    );
    // Once the API is back, a rotated value is noticed again.
    api.fail(undefined);
    api.setSecret("creds", { password: "second-password" });
    await expired();
    expect(String(await secrets.resolve(ref("password")))).toBe("second-password");
  });

  it("keeps serving the last value read while the API stalls or is unreachable", async () => {
    const secrets = resolver({ timeoutMs: 300 });
    expect(String(await secrets.resolve(ref("password")))).toBe("first-password");
    await expired();
    api.fail({ stall: true });
    warnings.length = 0;
    expect(String(await secrets.resolve(ref("password")))).toBe("first-password");
    expect(warnings.join("\n")).toMatch(/unreachable \(no answer within 0.3 s\)/);

    await expired();
    const port = process.env.KUBERNETES_SERVICE_PORT;
    process.env.KUBERNETES_SERVICE_PORT = String(await closedPort());
    try {
      expect(String(await secrets.resolve(ref("password")))).toBe("first-password");
      expect(warnings.at(-1)).toMatch(/is unreachable \(connect ECONNREFUSED/);
    } finally {
      process.env.KUBERNETES_SERVICE_PORT = port;
    }
  });

  it("retries 429 throttling (honouring Retry-After) and succeeds", async () => {
    api.fail({ status: 429, retryAfterSeconds: 0, times: 2 });
    const before = api.requests.length;
    expect(String(await resolver().resolve(ref("password")))).toBe("first-password");
    expect(api.requests.length - before).toBe(3);
  });

  it("fails clearly when there is no earlier value to fall back on", async () => {
    api.fail({ status: 500 });
    const error = await failure(resolver().resolve(ref("password")));
    expect(error.code).toBe("transient");
    expect(error.message).toBe(
      'Kubernetes Secret "creds" in namespace "argo" cannot be read: HTTP 500 from the Kubernetes API after 4 tries',
    );
    api.fail({ stall: true });
    const stalled = await failure(resolver({ timeoutMs: 200 }).resolve(ref("password")));
    expect(stalled.code).toBe("unavailable");
    expect(stalled.message).toMatch(/is unreachable \(no answer within 0.2 s\)/);
  });

  it("does not serve an old value once the Secret is deleted or its grant revoked", async () => {
    const secrets = resolver();
    expect(String(await secrets.resolve(ref("password")))).toBe("first-password");
    await expired();
    api.fail({ status: 404, times: 1 });
    const gone = await failure(secrets.resolve(ref("password")));
    expect(gone.message).toBe('Kubernetes Secret "creds" in namespace "argo" does not exist');
    // Nor afterwards, during an outage: the old value died with the Secret.
    api.fail({ status: 503 });
    await expired();
    expect((await failure(secrets.resolve(ref("password")))).code).toBe("transient");

    api.fail(undefined);
    const again = resolver();
    await again.resolve(ref("password"));
    await expired();
    api.fail({ status: 403, times: 1 });
    expect((await failure(again.resolve(ref("password")))).code).toBe("permission-denied");
  });
});

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
