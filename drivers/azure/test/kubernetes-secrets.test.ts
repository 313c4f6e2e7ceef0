import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type KubernetesStandIn,
  PluginProcess,
  startKubernetesStandIn,
} from "@argo-artifact-drivers/conformance";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { DEV_KEY } from "./backend.js";
import { configuration, entrypoint } from "./plugin.js";

/**
 * Credentials as Argo users give them: `accountKeySecret: {name, key}`, read
 * by the plugin through the in-cluster API (a stand-in speaking the real
 * protocol, since no cluster runs here), with the default secret sources.
 */
describe("accountKeySecret from a Kubernetes Secret", () => {
  let api: KubernetesStandIn;
  let plugin: PluginProcess;
  let work: string;

  beforeAll(async () => {
    const sas = inject("containerSas");
    api = await startKubernetesStandIn({
      namespace: "argo",
      secrets: {
        "azure-key": { "account-access-key": DEV_KEY },
        // As Azure Portal and `az storage container generate-sas` users often paste it: with the "?".
        "azure-sas": { sas: `?${sas}\n` },
      },
    });
    work = await mkdtemp(join(tmpdir(), "azure-k8s-"));
    plugin = await PluginProcess.start(entrypoint, join(work, "socket"), api.env);
    await writeFile(join(work, "artifact.txt"), "from a Secret\n");
  });

  afterAll(async () => {
    expect(await plugin.stop()).toBe(0);
    await api.close();
    await rm(work, { recursive: true, force: true });
  });

  async function roundTrip(config: string, key: string): Promise<void> {
    const client = plugin.client(config);
    try {
      await client.save(key, join(work, "artifact.txt"));
      const target = join(work, `${key.replaceAll("/", "-")}.loaded`);
      await client.load(key, target);
      expect(await readFile(target, "utf8")).toBe("from a Secret\n");
    } finally {
      client.close();
    }
  }

  it("an account key, pasted from Argo's azure: block", async () => {
    await roundTrip(
      configuration({
        accountKeySecret: { name: "azure-key", key: "account-access-key" },
      }),
      "k8s/key.txt",
    );
    expect(api.requests).toContain("/api/v1/namespaces/argo/secrets/azure-key");
  });

  it("a container-scoped SAS token stored with a leading '?'", async () => {
    await roundTrip(
      configuration({ container: "sas-only", accountKeySecret: { name: "azure-sas", key: "sas" } }),
      "k8s/sas.txt",
    );
    expect(api.requests).toContain("/api/v1/namespaces/argo/secrets/azure-sas");
    // The token is the secret: neither it nor its signature shows in the logs.
    const logs = plugin.logs.join("\n");
    expect(logs).not.toContain(inject("containerSas"));
    expect(logs).not.toMatch(/sig=(?!REDACTED)/);
  });

  it("the same SAS token is refused for another container", async () => {
    const client = plugin.client(
      configuration({ container: "other", accountKeySecret: { name: "azure-sas", key: "sas" } }),
    );
    try {
      await expect(client.save("k8s/elsewhere.txt", join(work, "artifact.txt"))).rejects.toThrow(
        /\[permission-denied\]/,
      );
    } finally {
      client.close();
    }
  });
});
