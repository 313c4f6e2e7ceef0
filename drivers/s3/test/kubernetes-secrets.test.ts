import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type KubernetesStandIn,
  PluginProcess,
  startKubernetesStandIn,
} from "@argo-artifact-drivers/conformance";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { configuration, entrypoint } from "./plugin.js";

/**
 * Credentials as Argo users give them: `{name, key}` references to Kubernetes
 * Secrets (Argo's accessKeySecret/secretKeySecret shape), read by the plugin
 * through the in-cluster API (a stand-in server speaking the real protocol,
 * since no cluster runs here), with the default secret sources.
 */
describe("credentials from Kubernetes Secrets", () => {
  let api: KubernetesStandIn;
  let plugin: PluginProcess;
  let work: string;

  beforeAll(async () => {
    const ids = inject("identities");
    api = await startKubernetesStandIn({
      namespace: "argo",
      secrets: {
        "s3-writer": { accesskey: ids.writer.accessKeyId, secretkey: ids.writer.secretAccessKey },
      },
    });
    work = await mkdtemp(join(tmpdir(), "s3-k8s-"));
    plugin = await PluginProcess.start(entrypoint, join(work, "socket"), api.env);
    await writeFile(join(work, "artifact.txt"), "from a Secret\n");
  });

  afterAll(async () => {
    expect(await plugin.stop()).toBe(0);
    await api.close();
    await rm(work, { recursive: true, force: true });
  });

  const fromSecret = {
    accessKeySecret: { name: "s3-writer", key: "accesskey" },
    secretKeySecret: { name: "s3-writer", key: "secretkey" },
  };

  it("signs with keys read from a Secret", async () => {
    const client = plugin.client(
      configuration({ bucket: "k8s-secrets", createBucketIfNotPresent: {}, ...fromSecret }),
    );
    try {
      await client.save("k8s/artifact.txt", join(work, "artifact.txt"));
      await client.load("k8s/artifact.txt", join(work, "loaded.txt"));
      expect(await readFile(join(work, "loaded.txt"), "utf8")).toBe("from a Secret\n");
      expect(api.requests).toContain("/api/v1/namespaces/argo/secrets/s3-writer");
    } finally {
      client.close();
    }
  });

  it("names a missing Secret and its namespace", async () => {
    const client = plugin.client(
      configuration({
        bucket: "k8s-secrets",
        accessKeySecret: { name: "no-such-secret", key: "accesskey" },
        secretKeySecret: fromSecret.secretKeySecret,
      }),
    );
    try {
      await expect(client.isDirectory("k8s/anything")).rejects.toThrow(
        'Kubernetes Secret "no-such-secret" in namespace "argo" does not exist',
      );
    } finally {
      client.close();
    }
  });

  it("refuses environment references when only Kubernetes Secrets are allowed", async () => {
    const client = plugin.client(configuration({ bucket: "k8s-secrets" }));
    try {
      await expect(client.isDirectory("k8s/anything")).rejects.toThrow(
        /env secret references are disabled in this plugin/,
      );
    } finally {
      client.close();
    }
  });
});
