import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  allowedSecretSources,
  DriverError,
  SecretRef,
  SecretResolver,
} from "@argo-artifact-drivers/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
    expect(await resolver.resolve(ref("s3-creds", "secretKey"))).toBe("very-secret-value");
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
    expect(await resolver.resolve(ref("s3-creds", "accessKey"))).toBe("AKIAEXAMPLE");
    api.setSecret("s3-creds", { accessKey: "AKIAROTATED", secretKey: "rotated-secret" });
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(await resolver.resolve(ref("s3-creds", "accessKey"))).toBe("AKIAROTATED");
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
    expect(await resolver.resolve(new SecretRef({ kind: "env", name: "STAND_IN_PASSWORD" }))).toBe(
      "from-env",
    );
    expect(
      await resolver.resolve(new SecretRef({ kind: "file", path: join(folder, "password") })),
    ).toBe("from-file");
    const kubernetesRefused = await failure(resolver.resolve(ref("s3-creds", "accessKey")));
    expect(kubernetesRefused.message).toMatch(/kubernetes secret references are disabled/);
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
