import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type KubernetesStandIn,
  type PluginProcess,
  startKubernetesStandIn,
} from "@argo-artifact-drivers/conformance";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backend, configuration, failure, freshBase, startPlugin } from "./helpers.js";

/**
 * Credentials as Argo users give them: `{name, key}` references to Kubernetes
 * Secrets, read by the plugin through the in-cluster API (a stand-in server
 * speaking the real protocol, since no cluster runs here), with the default
 * secret sources (kubernetes only).
 */
describe("credentials from Kubernetes Secrets", () => {
  let api: KubernetesStandIn;
  let plugin: PluginProcess;
  let work: string;

  beforeAll(async () => {
    const sftp = backend();
    api = await startKubernetesStandIn({
      namespace: "argo",
      secrets: {
        "sftp-login": {
          password: await readFile(sftp.files.password, "utf8"),
          known_hosts: await readFile(sftp.files.knownHosts, "utf8"),
          id_ed25519: await readFile(sftp.files.privateKey, "utf8"),
        },
      },
    });
    plugin = await startPlugin({ ...api.env, ARTIFACT_DRIVER_SECRET_SOURCES: "kubernetes" });
    work = join(plugin.socketPath, "..", "..");
    await writeFile(join(work, "artifact.txt"), "from a Secret\n");
  });

  afterAll(async () => {
    expect(await plugin.stop()).toBe(0);
    await api.close();
  });

  async function roundTrip(fields: Record<string, unknown>): Promise<void> {
    const client = plugin.client(configuration({ basePath: await freshBase(), ...fields }));
    try {
      await client.save("k8s/artifact.txt", join(work, "artifact.txt"));
      const target = join(work, `loaded-${Math.random().toString(16).slice(2)}`);
      await client.load("k8s/artifact.txt", target);
      expect(await readFile(target, "utf8")).toBe("from a Secret\n");
    } finally {
      client.close();
    }
  }

  it("logs in with a password and pins the host key from one Secret", async () => {
    await roundTrip({
      passwordSecret: { name: "sftp-login", key: "password" },
      knownHostsSecret: { name: "sftp-login", key: "known_hosts" },
    });
  });

  it("logs in with a private key from a Secret", async () => {
    await roundTrip({
      passwordSecret: undefined,
      privateKeySecret: { name: "sftp-login", key: "id_ed25519" },
      knownHostsSecret: { name: "sftp-login", key: "known_hosts" },
    });
  });

  it("names a missing Secret key and lists the keys that exist, without values", async () => {
    const client = plugin.client(
      configuration({
        basePath: await freshBase(),
        passwordSecret: { name: "sftp-login", key: "passwd" },
        knownHostsSecret: { name: "sftp-login", key: "known_hosts" },
      }),
    );
    try {
      const message = await failure(client.isDirectory("k8s/anything"));
      expect(message).toContain(
        'has no key "passwd" (its keys: id_ed25519, known_hosts, password)',
      );
      expect(message).not.toContain(backend().password);
    } finally {
      client.close();
    }
  });

  it("refuses file references when only Kubernetes Secrets are allowed", async () => {
    const client = plugin.client(configuration({ basePath: await freshBase() }));
    try {
      expect(await failure(client.isDirectory("k8s/anything"))).toMatch(
        /file secret references are disabled in this plugin/,
      );
    } finally {
      client.close();
    }
  });
});
