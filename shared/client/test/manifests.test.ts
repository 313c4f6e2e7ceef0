import { cp, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { removeDir, runCli, tempDir } from "./helpers.js";
import {
  ARGO_SERVER,
  checkManifests,
  FIXTURES,
  INDEX,
  kustomizeBuild,
  REPO,
} from "./registration-tools.js";

const INDEX_FILE = join(REPO, "index/drivers.json");
const image = (driver: string) => `registry.example.com/argo-artifact-drivers/${driver}:0.1.0`;

let scratch: string;
beforeAll(async () => {
  scratch = await tempDir("manifests-test-");
});
afterAll(async () => {
  await removeDir(scratch);
});

async function manifests(
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const result = await runCli(["manifests", "--index", INDEX_FILE, ...args]);
  return { code: result.code, stdout: result.stdout.toString(), stderr: result.stderr };
}

async function files(folder: string): Promise<string[]> {
  return (await readdir(folder)).sort().map((name) => join(folder, name));
}

describe.each(INDEX.drivers.map((driver) => driver.name))(
  "manifests for the %s driver",
  (driver) => {
    const plugin = `${driver}-plugin`;
    const args = [
      "--driver",
      driver,
      "--name",
      plugin,
      "--image",
      image(driver),
      "--workflow-namespace",
      "ci",
      "--service-account",
      "workflows",
      "--secret",
      "storage-credentials",
    ];

    test("plain YAML decodes strictly, patches argo-server and registers the plugin as Argo requires", async () => {
      const folder = join(scratch, `plain-${driver}`);
      expect((await manifests([...args, "--output", folder])).code).toBe(0);
      const { code, report } = await checkManifests([
        "--base",
        ARGO_SERVER,
        ...(await files(folder)),
      ]);
      expect(report.problems).toEqual([]);
      expect(report.warnings).toEqual([]);
      expect(code).toBe(0);
      expect(report.documents.map((document) => document.kind).sort()).toEqual([
        "apps/v1/Deployment",
        "rbac.authorization.k8s.io/v1/Role",
        "rbac.authorization.k8s.io/v1/Role",
        "rbac.authorization.k8s.io/v1/RoleBinding",
        "rbac.authorization.k8s.io/v1/RoleBinding",
        "v1/ConfigMap",
      ]);
      // Socket path and folder as Argo's own code derives them from the registration.
      expect(report.drivers).toEqual([
        {
          name: plugin,
          image: image(driver),
          socketPath: `/tmp/artifact-plugins/${plugin}/socket`,
          socketDir: `/tmp/artifact-plugins/${plugin}`,
          entrypoint: ["node", "/app/main.mjs"],
        },
      ]);
      const rbac = parseAllDocuments(await readFile(join(folder, "secret-rbac.yaml"), "utf8")).map(
        (document) => document.toJS() as Record<string, unknown>,
      );
      expect(rbac).toContainEqual(
        expect.objectContaining({
          kind: "Role",
          metadata: { name: "artifact-plugin-secrets", namespace: "ci" },
          rules: [
            {
              apiGroups: [""],
              resources: ["secrets"],
              resourceNames: ["storage-credentials"],
              verbs: ["get"],
            },
          ],
        }),
      );
      expect(rbac).toContainEqual(
        expect.objectContaining({
          kind: "RoleBinding",
          metadata: { name: "artifact-plugin-secrets", namespace: "argo" },
          subjects: [{ kind: "ServiceAccount", name: "argo-server", namespace: "argo" }],
        }),
      );
    });

    test("Helm values decode strictly into the chart's pod parts and give argo-server the sidecar", async () => {
      const folder = join(scratch, `helm-${driver}`);
      await mkdir(folder);
      const helm = await manifests([...args, "--format", "helm"]);
      expect(helm.code).toBe(0);
      await writeFile(join(folder, "values.yaml"), helm.stdout);
      // artifactDrivers comes from the plain ConfigMap: the chart has no value for it.
      const plain = await manifests([...args, "--output", folder]);
      expect(plain.code).toBe(0);
      const { code, report } = await checkManifests([
        "--base",
        ARGO_SERVER,
        "--helm-values",
        join(folder, "values.yaml"),
        join(folder, "workflow-controller-configmap.yaml"),
      ]);
      expect(report.problems).toEqual([]);
      expect(report.warnings).toEqual([]);
      expect(code).toBe(0);
      expect(
        report.documents.filter((document) => document.file.endsWith("extraObjects")),
      ).toHaveLength(4);
    });
  },
);

test("a Kustomize component of every driver renders onto Argo's manifests and keeps what was there", async () => {
  const component = join(scratch, "kustomize/plugins");
  const args = INDEX.drivers.flatMap((driver) => [
    "--driver",
    driver.name,
    "--name",
    `${driver.name}-plugin`,
    "--image",
    image(driver.name),
  ]);
  const result = await manifests([
    ...args,
    "--secret",
    "storage-credentials",
    "--format",
    "kustomize",
    "--output",
    component,
  ]);
  expect(result.code).toBe(0);
  const overlay = join(scratch, "kustomize/overlay");
  await cp(join(FIXTURES, "argo"), join(scratch, "kustomize/argo"), { recursive: true });
  await mkdir(overlay);
  await writeFile(
    join(overlay, "kustomization.yaml"),
    "namespace: argo\nresources:\n  - ../argo\ncomponents:\n  - ../plugins\n",
  );
  const rendered = join(scratch, "kustomize/rendered.yaml");
  await writeFile(rendered, await kustomizeBuild(overlay));
  const { code, report } = await checkManifests([rendered]);
  expect(report.problems).toEqual([]);
  expect(code).toBe(0);
  expect(report.drivers.map((driver) => driver.name)).toEqual(
    INDEX.drivers.map((driver) => `${driver.name}-plugin`),
  );

  const objects = parseAllDocuments(await readFile(rendered, "utf8")).map(
    (document) =>
      document.toJS() as {
        kind: string;
        metadata: { namespace?: string };
        data?: Record<string, string>;
        spec?: unknown;
      },
  );
  const configMap = objects.find((object) => object.kind === "ConfigMap");
  expect(configMap?.data?.parallelism).toBe("10");
  const server = objects.find((object) => object.kind === "Deployment") as unknown as {
    spec: {
      template: { spec: { containers: { name: string; volumeMounts: { mountPath: string }[] }[] } };
    };
  };
  const argoServer = server.spec.template.spec.containers.find(
    (container) => container.name === "argo-server",
  );
  expect(argoServer?.volumeMounts.map((mount) => mount.mountPath).sort()).toEqual([
    "/tmp",
    ...INDEX.drivers.map((driver) => `/tmp/artifact-plugins/${driver.name}-plugin`),
  ]);
  expect(objects.every((object) => object.metadata.namespace === "argo")).toBe(true);
});

describe("the checks fail on what Argo would refuse", () => {
  let folder: string;
  beforeAll(async () => {
    folder = join(scratch, "broken");
    const result = await manifests([
      "--driver",
      "s3",
      "--name",
      "s3-plugin",
      "--image",
      image("s3"),
      "--output",
      folder,
    ]);
    expect(result.code).toBe(0);
  });

  test.each([
    [
      "a second argument",
      "- /tmp/artifact-plugins/s3-plugin/socket",
      "- --verbose\n            - /tmp/artifact-plugins/s3-plugin/socket",
      "as its only argument",
    ],
    [
      "another image in argo-server",
      `image: ${image("s3")}`,
      `image: ${image("s3")}-other`,
      "argo-server has no container with image",
    ],
    [
      "a misspelt field",
      "mountPath: /tmp\n",
      "mountpath: /tmp\n",
      'unknown field "spec.template.spec.containers[1].volumeMounts[1].mountpath"',
    ],
    ["root", "runAsUser: 8737", "runAsUser: 0", "must run as non-root uid 8737"],
    [
      "no socket volume in argo-server",
      "      containers:\n        - name: argo-server\n",
      "      containers:\n        - name: argo-server-renamed\n",
      "argo-server must mount the sidecar's socket volume",
    ],
  ])("%s", async (_, from, to, problem) => {
    const patch = await readFile(join(folder, "argo-server-patch.yaml"), "utf8");
    expect(patch).toContain(from);
    const broken = join(scratch, `broken-${problem.length}.yaml`);
    await writeFile(broken, patch.replace(from, to));
    const { code, report } = await checkManifests([
      "--base",
      ARGO_SERVER,
      join(folder, "workflow-controller-configmap.yaml"),
      broken,
    ]);
    expect(code).toBe(1);
    expect(report.problems.join("\n")).toContain(problem);
  });

  test("a registration Argo's configuration does not know, or without the image's entrypoint", async () => {
    const configMap = await readFile(join(folder, "workflow-controller-configmap.yaml"), "utf8");
    const unknown = join(scratch, "unknown-field.yaml");
    await writeFile(
      unknown,
      configMap.replace(
        "    - name: s3-plugin\n",
        "    - name: s3-plugin\n      pullPolicy: Always\n",
      ),
    );
    expect((await checkManifests([unknown])).report.problems.join("\n")).toContain(
      'is not a valid Argo controller configuration: error unmarshaling JSON: while decoding JSON: json: unknown field "pullPolicy"',
    );
    const data = (parse(configMap) as { data: Record<string, string> }).data;
    const noImages = join(scratch, "no-images.yaml");
    await writeFile(
      noImages,
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: workflow-controller-configmap\ndata:\n  artifactDrivers: |\n${data.artifactDrivers?.replace(/^/gm, "    ")}`,
    );
    expect((await checkManifests([noImages])).report.warnings).toEqual([
      `plugin "s3-plugin": the controller's images has no entry for ${image("s3")}: it must pull the image's manifest to learn the entrypoint`,
    ]);
  });
});

describe("manifests refuses what cannot work (exit status 2)", () => {
  test.each([
    [
      ["--driver", "ftp", "--image", "x"],
      'no driver "ftp" in the index; it has azure, gcs, local, s3, sftp, webdav',
    ],
    [
      ["--driver", "s3", "--driver", "gcs", "--name", "a", "--image", "x", "--image", "y"],
      "--name was given 1 times for 2 --driver",
    ],
    [["--driver", "s3"], "the s3 image is not published anywhere yet"],
    [["--driver", "s3", "--name", "S3_Plugin", "--image", "x"], 'plugin name "S3_Plugin"'],
    [
      ["--driver", "s3", "--driver", "s3", "--image", "x", "--image", "y"],
      'two plugins are named "s3"',
    ],
    [
      ["--driver", "s3", "--image", "x", "--format", "kustomize"],
      "a kustomize component is a folder: add --output <folder>",
    ],
  ])("%j", async (args, message) => {
    const result = await manifests(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });
});

describe("ambient credentials (the container's own identity)", () => {
  const args = ["--driver", "s3", "--image", image("s3"), "--secret", "storage-credentials"];
  const ambient = (env: unknown) =>
    (env as { name: string; value: string }[]).filter(
      (variable) => variable.name === "ARTIFACT_DRIVER_AMBIENT_CREDENTIALS",
    );

  test("are refused explicitly in argo-server's sidecars, and left to the images' default in workflow pods", async () => {
    const folder = join(scratch, "ambient-default");
    expect((await manifests([...args, "--output", folder])).code).toBe(0);
    const patch = parse(await readFile(join(folder, "argo-server-patch.yaml"), "utf8"));
    const sidecar = patch.spec.template.spec.containers.find(
      (container: { name: string }) => container.name === "artifact-plugin-s3",
    );
    expect(ambient(sidecar.env)).toEqual([
      { name: "ARTIFACT_DRIVER_AMBIENT_CREDENTIALS", value: "deny" },
    ]);
    // Nor may a workflow author name any other Secret of argo-server's namespace there.
    expect(sidecar.env).toContainEqual({
      name: "ARTIFACT_DRIVER_SECRET_NAMES",
      value: "storage-credentials",
    });
    const configMap = await readFile(join(folder, "workflow-controller-configmap.yaml"), "utf8");
    expect(parse(configMap).data.executor).toBeUndefined();
    expect(configMap).toMatch(/--workflow-ambient deny writes an executor key/);
  });

  test.each(["deny", "allow"])(
    "--workflow-ambient %s sets it in the executor's environment, which Argo accepts",
    async (setting) => {
      const folder = join(scratch, `ambient-${setting}`);
      expect(
        (await manifests([...args, "--workflow-ambient", setting, "--output", folder])).code,
      ).toBe(0);
      const configMap = parse(
        await readFile(join(folder, "workflow-controller-configmap.yaml"), "utf8"),
      );
      expect(parse(configMap.data.executor)).toEqual({
        env: [{ name: "ARTIFACT_DRIVER_AMBIENT_CREDENTIALS", value: setting }],
      });
      const { report } = await checkManifests(["--base", ARGO_SERVER, ...(await files(folder))]);
      expect(report.problems).toEqual([]);
      const helm = parse(
        (await manifests([...args, "--workflow-ambient", setting, "--format", "helm"])).stdout,
      );
      expect(helm.executor).toEqual({
        env: [{ name: "ARTIFACT_DRIVER_AMBIENT_CREDENTIALS", value: setting }],
      });
      // The sidecars beside argo-server are never changed by it.
      const patch = parse(await readFile(join(folder, "argo-server-patch.yaml"), "utf8"));
      expect(ambient(patch.spec.template.spec.containers[1].env)[0]?.value).toBe("deny");
    },
  );

  test("--workflow-ambient refuses other values", async () => {
    const result = await manifests([...args, "--workflow-ambient", "yes"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/Allowed choices are allow, deny/);
  });
});

describe("OpenTelemetry export (--otel-endpoint)", () => {
  const args = ["--driver", "s3", "--image", image("s3"), "--secret", "storage-credentials"];
  const endpoint = "http://otel-collector.observability:4318";
  const otel = [
    { name: "OTEL_EXPORTER_OTLP_ENDPOINT", value: endpoint },
    { name: "OTEL_EXPORTER_OTLP_PROTOCOL", value: "http/protobuf" },
  ];

  test("sets the endpoint in the executor's environment and on the argo-server sidecars", async () => {
    const folder = join(scratch, "otel");
    const flags = ["--otel-endpoint", endpoint, "--otel-protocol", "http/protobuf"];
    expect((await manifests([...args, ...flags, "--output", folder])).code).toBe(0);
    const configMap = parse(
      await readFile(join(folder, "workflow-controller-configmap.yaml"), "utf8"),
    );
    expect(parse(configMap.data.executor)).toEqual({ env: otel });
    expect(await readFile(join(folder, "workflow-controller-configmap.yaml"), "utf8")).toContain(
      `OTEL_EXPORTER_OTLP_ENDPOINT=${endpoint}`,
    );
    const patch = parse(await readFile(join(folder, "argo-server-patch.yaml"), "utf8"));
    const sidecar = patch.spec.template.spec.containers.find(
      (container: { name: string }) => container.name === "artifact-plugin-s3",
    );
    expect(sidecar.env).toEqual(expect.arrayContaining(otel));
    const { report } = await checkManifests(["--base", ARGO_SERVER, ...(await files(folder))]);
    expect(report.problems).toEqual([]);
  });

  test("writes nothing of it without --otel-endpoint", async () => {
    const folder = join(scratch, "otel-off");
    expect((await manifests([...args, "--output", folder])).code).toBe(0);
    const written = (
      await Promise.all((await files(folder)).map((f) => readFile(f, "utf8")))
    ).join();
    expect(written).not.toContain("OTEL_");
  });

  test.each([
    [["--otel-endpoint", "otel-collector:4317"], /expected the collector's URL/],
    [["--otel-protocol", "grpc"], /--otel-protocol needs --otel-endpoint/],
    [
      ["--otel-endpoint", endpoint, "--otel-protocol", "udp"],
      /Allowed choices are grpc, http\/protobuf/,
    ],
  ])("refuses %j", async (flags, message) => {
    const result = await manifests([...args, ...flags]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });
});
