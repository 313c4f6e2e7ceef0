import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { driverModule } from "../backend.js";
import { expectFailure, type Kit, notRun } from "../kit.js";
import { type KubernetesStandIn, startKubernetesStandIn } from "../kubernetes-stand-in.js";
import { PluginProcess } from "../plugin-process.js";

const SECRET = "artifact-credentials";
const FAULT_MAIN = fileURLToPath(new URL("../fault-main.js", import.meta.url));

/**
 * Credentials as Argo users give them: `{name, key}` references to
 * Kubernetes Secrets of the pod's namespace, read through the in-cluster API
 * (a stand-in speaking the real protocol, since no cluster runs here) with
 * the default secret sources.
 */
export function secretScenarios(kit: Kit): void {
  const { key, scenario } = kit;
  const declared = kit.options.kubernetesSecrets;
  const title = "credentials from Kubernetes Secret references";
  if (!declared) {
    notRun(title, `${kit.options.driver} declares no secret fields (kubernetesSecrets)`);
    return;
  }
  const secrets = declared;
  const fields = Object.keys(secrets.values);
  const refsTo = (name: string, keyOf: (field: string) => string = (field) => field) =>
    Object.fromEntries(fields.map((field) => [field, { name, key: keyOf(field) }]));
  let api: KubernetesStandIn;
  let plugin: PluginProcess;

  describe(title, () => {
    let echoing: PluginProcess;
    beforeAll(async () => {
      api = await startKubernetesStandIn({
        namespace: "argo",
        secrets: { [SECRET]: secrets.values, "not-for-you": secrets.values },
        forbidden: ["not-for-you"],
      });
      plugin = await kit.startPlugin("kubernetes", {
        ...api.env,
        ARTIFACT_DRIVER_SECRET_SOURCES: "kubernetes",
      });
      // The same driver whose every stat fails with a message echoing every
      // secret value, as a careless SDK might: the scrubbing must catch it.
      const echo = Object.values(secrets.values)
        .map((value) => ` ${value}`)
        .join("");
      echoing = await PluginProcess.start(
        FAULT_MAIN,
        join(kit.work, "sockets", "echoing-secrets", "socket"),
        {
          ...kit.options.env,
          ...api.env,
          ARTIFACT_DRIVER_SECRET_SOURCES: "kubernetes",
          CONFORMANCE_DRIVER_MODULE: driverModule(kit.options),
          CONFORMANCE_FAULTS: JSON.stringify({
            rules: [{ methods: ["stat"], error: "unknown", message: echo }],
          }),
        },
      );
    });
    afterAll(async () => {
      await echoing?.stop();
      expect(await plugin?.stop()).toBe(0);
      await api?.close();
    });

    /** Fails if any secret value appears in the plugins' logs or in `message`. */
    function expectNoSecret(message = ""): void {
      const everything = `${plugin.logs.join("\n")}\n${echoing.logs.join("\n")}\n${message}`;
      for (const [field, value] of Object.entries(secrets.values)) {
        // Short values (a port, "true") cannot be told from ordinary text.
        if (value.length >= 6)
          expect(everything, `the value of ${field} leaked`).not.toContain(value);
      }
    }

    scenario("an artifact round-trips with every secret field read from a Secret", [], async () => {
      const client = plugin.client(await secrets.configuration(refsTo(SECRET)));
      try {
        const source = join(kit.work, "from-a-secret.txt");
        await writeFile(source, "from a Secret\n");
        await client.save(key("secrets/round-trip.txt"), source);
        const target = join(kit.work, "from-a-secret-loaded.txt");
        await client.load(key("secrets/round-trip.txt"), target);
        expect(await readFile(target, "utf8")).toBe("from a Secret\n");
        expect(api.requests.some((path) => path.endsWith(`/secrets/${SECRET}`))).toBe(true);
        expectNoSecret();
      } finally {
        client.close();
      }
    });

    scenario(
      "a missing Secret key is named, with the keys that exist and no values",
      [],
      async () => {
        const client = plugin.client(
          await secrets.configuration(refsTo(SECRET, (field) => `${field}-typo`)),
        );
        try {
          const message = await expectFailure(
            client.isDirectory(key("secrets/any")),
            key("secrets/any"),
            /has no key ".*-typo" \(its keys: /,
          );
          expectNoSecret(message);
        } finally {
          client.close();
        }
      },
    );

    scenario(
      "a backend error that echoes the secret values reaches neither the answer nor the log",
      [],
      async () => {
        const client = echoing.client(await secrets.configuration(refsTo(SECRET)));
        try {
          const message = await expectFailure(
            client.isDirectory(key("secrets/echo")),
            key("secrets/echo"),
            /injected fault in stat/,
          );
          expect(message).toContain("REDACTED");
          await new Promise((resolve) => setTimeout(resolve, 200));
          expect(echoing.logs.join("\n")).toContain("REDACTED");
          expectNoSecret(message);
        } finally {
          client.close();
        }
      },
    );

    scenario(
      "a Secret the operator did not list in ARTIFACT_DRIVER_SECRET_NAMES is refused without asking the API",
      [],
      async () => {
        // What the argo-server sidecar gets from the manifests: only the Secrets of its Roles.
        const listed = await kit.startPlugin("secret-names", {
          ...api.env,
          ARTIFACT_DRIVER_SECRET_SOURCES: "kubernetes",
          ARTIFACT_DRIVER_SECRET_NAMES: SECRET,
        });
        try {
          const before = api.requests.length;
          const message = await expectFailure(
            listed
              .client(await secrets.configuration(refsTo("not-for-you")))
              .isDirectory(key("secrets/unlisted")),
            key("secrets/unlisted"),
            /"not-for-you".*is refused: .*ARTIFACT_DRIVER_SECRET_NAMES \(artifact-credentials\).*\[invalid-config\]/,
          );
          expect(api.requests.slice(before).some((path) => path.endsWith("/not-for-you"))).toBe(
            false,
          );
          expectNoSecret(message);
          // The listed one still works there.
          const source = join(kit.work, "listed-secret.txt");
          await writeFile(source, "listed\n");
          await listed
            .client(await secrets.configuration(refsTo(SECRET)))
            .save(key("secrets/listed.txt"), source);
        } finally {
          expect(await listed.stop()).toBe(0);
        }
      },
    );

    scenario(
      "a Secret the service account may not read is a clear permission error",
      [],
      async () => {
        const client = plugin.client(await secrets.configuration(refsTo("not-for-you")));
        try {
          const message = await expectFailure(
            client.isDirectory(key("secrets/any")),
            key("secrets/any"),
            /not-for-you/,
          );
          expect(message).toMatch(/permission-denied|forbidden|RBAC/i);
          expectNoSecret(message);
        } finally {
          client.close();
        }
      },
    );
  });
}
