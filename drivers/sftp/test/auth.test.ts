import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  failureMessage,
  type KubernetesStandIn,
  startKubernetesStandIn,
  type TestPlugin,
} from "@argo-artifact-drivers/conformance";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backend, configuration, freshBase, startPlugin } from "./plugin.js";

let plugin: TestPlugin;
let work: string;

beforeAll(async () => {
  plugin = await startPlugin();
  work = plugin.work;
  await writeFile(join(work, "artifact.txt"), "hello over sftp\n");
});

afterAll(async () => {
  expect(await plugin.stop()).toBe(0);
});

/** Saves and loads one small artifact with the given configuration. */
async function roundTrip(config: string, through: TestPlugin = plugin): Promise<void> {
  const client = through.client(config);
  await client.save("auth/artifact.txt", join(work, "artifact.txt"));
  const target = join(work, `loaded-${Math.random().toString(16).slice(2)}`);
  await client.load("auth/artifact.txt", target);
  expect(await readFile(target, "utf8")).toBe("hello over sftp\n");
}

function failingSave(config: string): Promise<string> {
  const client = plugin.client(config);
  return failureMessage(client.save("auth/artifact.txt", join(work, "artifact.txt")));
}

describe("logins from secret references", () => {
  it("logs in with a password", async () => {
    await roundTrip(configuration({ basePath: freshBase() }));
  });

  it("logs in with a private key", async () => {
    const sftp = backend();
    await roundTrip(
      configuration({
        basePath: freshBase(),
        passwordSecret: undefined,
        privateKeySecret: { file: sftp.files.privateKey },
      }),
    );
  });

  it("logs in with a passphrase-protected private key", async () => {
    const sftp = backend();
    await roundTrip(
      configuration({
        basePath: freshBase(),
        passwordSecret: undefined,
        privateKeySecret: { file: sftp.files.encryptedKey },
        passphraseSecret: { file: sftp.files.passphrase },
      }),
    );
  });

  it("reads secrets from environment variables too", async () => {
    const sftp = backend();
    const envPlugin = await startPlugin({ SFTP_TEST_PASSWORD: sftp.password });
    try {
      const client = envPlugin.client(
        configuration({ basePath: freshBase(), passwordSecret: { env: "SFTP_TEST_PASSWORD" } }),
      );
      await client.save("env/artifact.txt", join(work, "artifact.txt"));
      expect(await client.isDirectory("env")).toBe(true);
    } finally {
      expect(await envPlugin.stop()).toBe(0);
    }
  });

  it("refuses a wrong password with a clear message that names host, port and user but not the password", async () => {
    const sftp = backend();
    const message = await failingSave(
      configuration({
        basePath: freshBase(),
        passwordSecret: { file: sftp.files.wrongPassword },
      }),
    );
    expect(message).toContain(`${sftp.host}:${sftp.port}`);
    expect(message).toContain(`refused the login of user "${sftp.username}"`);
    expect(message).toContain("[permission-denied]");
    expect(message).not.toContain("not-the-password");
    expect(plugin.logs.join("\n")).not.toContain("not-the-password");
  });

  it("refuses a key the server does not authorize", async () => {
    const sftp = backend();
    const message = await failingSave(
      configuration({
        basePath: freshBase(),
        passwordSecret: undefined,
        privateKeySecret: { file: sftp.files.otherKey },
      }),
    );
    expect(message).toContain("[permission-denied]");
  });

  it("reports a wrong passphrase as a configuration problem", async () => {
    const sftp = backend();
    const message = await failingSave(
      configuration({
        basePath: freshBase(),
        passwordSecret: undefined,
        privateKeySecret: { file: sftp.files.encryptedKey },
        passphraseSecret: { file: sftp.files.wrongPassword },
      }),
    );
    expect(message).toContain(`the private key in file ${sftp.files.encryptedKey} cannot be used`);
    expect(message).toContain("[invalid-config]");
    expect(message).not.toContain("BEGIN OPENSSH PRIVATE KEY");
  });

  it("fails fast and clearly when nothing listens on the port", async () => {
    const started = Date.now();
    const message = await failingSave(
      configuration({
        port: 1,
        basePath: freshBase(),
        knownHostsSecret: undefined,
        hostKeyFingerprint: backend().fingerprints.ed25519,
      }),
    );
    expect(message).toContain("127.0.0.1:1");
    expect(message).toContain("connection refused");
    expect(message).toContain("[unavailable]");
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("gives up within the connect timeout when the server never answers", async () => {
    // A listening socket that never speaks SSH: the handshake times out.
    const { createServer } = await import("node:net");
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as { port: number }).port;
    const started = Date.now();
    try {
      const message = await failingSave(
        configuration({
          port,
          connectTimeoutSeconds: 1,
          retry: { attempts: 1 },
          insecureIgnoreHostKey: true,
          knownHostsSecret: undefined,
        }),
      );
      expect(message).toContain(`127.0.0.1:${port} did not complete the SSH handshake`);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      silent.close();
    }
  });
});

describe("host key verification", () => {
  it("refuses to connect without any host key setting and says how to get the fingerprint", async () => {
    const sftp = backend();
    const message = await failingSave(configuration({ knownHostsSecret: undefined }));
    expect(message).toContain(`ssh-keyscan -p ${sftp.port} ${sftp.host} | ssh-keygen -lf -`);
    expect(message).toContain("[invalid-config]");
  });

  it("accepts the server's pinned fingerprint", async () => {
    const sftp = backend();
    await roundTrip(
      configuration({
        basePath: freshBase(),
        knownHostsSecret: undefined,
        hostKeyFingerprint: sftp.fingerprints.ed25519,
      }),
    );
  });

  it("refuses a wrong fingerprint, naming the expected and offered ones", async () => {
    const sftp = backend();
    const message = await failingSave(
      configuration({
        basePath: freshBase(),
        knownHostsSecret: undefined,
        hostKeyFingerprint: sftp.fingerprints.wrong,
      }),
    );
    expect(message).toContain("host key mismatch");
    expect(message).toContain(sftp.fingerprints.wrong);
    expect(message).toContain(`ssh-ed25519 key ${sftp.fingerprints.ed25519}`);
    expect(message).toContain("[invalid-config]");
  });

  it("accepts the server's keys from known_hosts lines", async () => {
    await roundTrip(configuration({ basePath: freshBase() }));
  });

  it("asks the server for the key type that known_hosts has", async () => {
    const sftp = backend();
    await roundTrip(
      configuration({
        basePath: freshBase(),
        knownHostsSecret: { file: sftp.files.knownHostsEcdsaOnly },
      }),
    );
  });

  it("refuses a server whose key is not in known_hosts", async () => {
    const sftp = backend();
    const message = await failingSave(
      configuration({
        basePath: freshBase(),
        knownHostsSecret: { file: sftp.files.knownHostsWrong },
      }),
    );
    expect(message).toContain("host key mismatch");
    expect(message).toContain(sftp.fingerprints.wrong);
    expect(message).toContain("[invalid-config]");
  });

  it("connects without verification only when told to, and warns", async () => {
    await roundTrip(
      configuration({
        basePath: freshBase(),
        knownHostsSecret: undefined,
        insecureIgnoreHostKey: true,
      }),
    );
    const port = `"port":${backend().port}`;
    const warnings = plugin.logs.filter(
      (line) => line.includes("insecureIgnoreHostKey is set") && line.includes(port),
    );
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('"level":"warn"');
  });
});

/**
 * The kit checks a password and known_hosts from a Secret; a private key is
 * the one multi-line secret, so it is checked here through the Kubernetes API
 * stand-in too, with the default secret sources.
 */
describe("a private key from a Kubernetes Secret", () => {
  let api: KubernetesStandIn;
  let inCluster: TestPlugin;

  beforeAll(async () => {
    const sftp = backend();
    api = await startKubernetesStandIn({
      namespace: "argo",
      secrets: {
        "sftp-login": {
          id_rsa: await readFile(sftp.files.encryptedKey, "utf8"),
          passphrase: await readFile(sftp.files.passphrase, "utf8"),
          known_hosts: await readFile(sftp.files.knownHosts, "utf8"),
        },
      },
    });
    inCluster = await startPlugin({ ...api.env, ARTIFACT_DRIVER_SECRET_SOURCES: "kubernetes" });
  });

  afterAll(async () => {
    expect(await inCluster.stop()).toBe(0);
    await api.close();
  });

  it("logs in with a passphrase-protected key and its passphrase read from one Secret", async () => {
    await roundTrip(
      configuration({
        basePath: freshBase(),
        passwordSecret: undefined,
        privateKeySecret: { name: "sftp-login", key: "id_rsa" },
        passphraseSecret: { name: "sftp-login", key: "passphrase" },
        knownHostsSecret: { name: "sftp-login", key: "known_hosts" },
      }),
      inCluster,
    );
    expect(api.requests.some((path) => path.endsWith("/secrets/sftp-login"))).toBe(true);
  });
});
