import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  failureMessage,
  type KubernetesStandIn,
  startKubernetesStandIn,
  type TestPlugin,
} from "@argo-artifact-drivers/conformance";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backend, configuration, fresh, startPlugin } from "./plugin.js";

/**
 * Logins as Argo users configure them: `{name, key}` references to
 * Kubernetes Secrets, read by the plugin through the Kubernetes API (a
 * stand-in speaking the real protocol), with the default secret sources.
 * Apache checks each kind for real: basic and digest with mod_auth_basic and
 * mod_auth_digest, the bearer token with a `Require expr` on the header.
 */
describe("logins from Kubernetes Secrets", () => {
  let api: KubernetesStandIn;
  let plugin: TestPlugin;
  let source: string;

  beforeAll(async () => {
    const dav = backend();
    api = await startKubernetesStandIn({
      namespace: "argo",
      secrets: {
        "dav-login": { username: dav.username, password: dav.password, token: dav.token },
        "dav-wrong": { password: "not-the-password", token: "not-the-token" },
      },
    });
    plugin = await startPlugin({ ...api.env, ARTIFACT_DRIVER_SECRET_SOURCES: "kubernetes" });
    source = join(plugin.work, "artifact.txt");
    await writeFile(source, "from a Secret\n");
  });

  afterAll(async () => {
    expect(await plugin.stop()).toBe(0);
    await api.close();
  });

  const user = { name: "dav-login", key: "username" };
  const password = { name: "dav-login", key: "password" };

  async function roundTrip(folder: string, fields: Record<string, unknown>): Promise<string> {
    const client = plugin.client(
      configuration({ url: `${backend().apache}/${folder}/`, ...fields }),
    );
    const key = `${fresh("auth")}/artifact.txt`;
    try {
      await client.save(key, source);
      const target = `${source}.${fresh("loaded")}`;
      await client.load(key, target);
      expect(await readFile(target, "utf8")).toBe("from a Secret\n");
      expect(await client.list(key.split("/")[0] as string)).toEqual([key]);
    } finally {
      client.close();
    }
    // What the server stored, read from its folder: the login really wrote it.
    return readFile(join(backend().dirs[folder as "basic"], key), "utf8");
  }

  it("basic authentication", async () => {
    expect(await roundTrip("basic", { usernameSecret: user, passwordSecret: password })).toBe(
      "from a Secret\n",
    );
  });

  it("digest authentication", async () => {
    expect(
      await roundTrip("digest", {
        usernameSecret: user,
        passwordSecret: password,
        authType: "digest",
      }),
    ).toBe("from a Secret\n");
  });

  it("a bearer token", async () => {
    expect(
      await roundTrip("bearer", { bearerTokenSecret: { name: "dav-login", key: "token" } }),
    ).toBe("from a Secret\n");
  });

  it("extra headers from the configuration are sent with every request", async () => {
    const fields = { usernameSecret: user, passwordSecret: password };
    expect(await roundTrip("tenant", { ...fields, headers: { "X-Tenant": "builds" } })).toBe(
      "from a Secret\n",
    );
    const client = plugin.client(configuration({ url: `${backend().apache}/tenant/`, ...fields }));
    try {
      expect(await failureMessage(client.save(`${fresh("auth")}/x.txt`, source))).toMatch(
        /HTTP 403.*\[permission-denied\]/s,
      );
    } finally {
      client.close();
    }
  });

  const refused: Array<[string, string, Record<string, unknown>]> = [
    [
      "basic",
      "a wrong password",
      { usernameSecret: user, passwordSecret: { name: "dav-wrong", key: "password" } },
    ],
    [
      "digest",
      "a wrong digest password",
      {
        usernameSecret: user,
        passwordSecret: { name: "dav-wrong", key: "password" },
        authType: "digest",
      },
    ],
    [
      "digest",
      "basic credentials where digest is required",
      { usernameSecret: user, passwordSecret: password },
    ],
    ["bearer", "a wrong token", { bearerTokenSecret: { name: "dav-wrong", key: "token" } }],
  ];
  for (const [folder, what, fields] of refused) {
    it(`refuses ${what} clearly, naming the URL and no secret`, async () => {
      const client = plugin.client(
        configuration({ url: `${backend().apache}/${folder}/`, ...fields }),
      );
      try {
        const key = `${fresh("auth")}/refused.txt`;
        const message = await failureMessage(client.save(key, source));
        expect(message).toContain(`${backend().apache}/${folder}/`);
        expect(message).toContain(JSON.stringify(key));
        expect(message).toMatch(/HTTP 40[13]/);
        expect(message).toMatch(/\[permission-denied\]/);
        for (const secret of [
          backend().password,
          backend().token,
          "not-the-password",
          "not-the-token",
        ]) {
          expect(message).not.toContain(secret);
        }
      } finally {
        client.close();
      }
    });
  }
});
