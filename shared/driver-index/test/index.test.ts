import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { indexSchema, staleFiles, TABLE_END, TABLE_START, writeIndex } from "../src/index.js";

const repoRoot = join(import.meta.dirname, "../../..");
const DRIVERS = ["azure", "gcs", "local", "s3", "sftp", "webdav"];

test("the committed index and the README's driver table are what pnpm index generates", async () => {
  expect(await staleFiles(repoRoot), "run `pnpm index` and commit index/ and README.md").toEqual(
    [],
  );
});

test("index/drivers.json has an entry per driver package, in the published format", async () => {
  const index = indexSchema.parse(
    JSON.parse(await readFile(join(repoRoot, "index/drivers.json"), "utf8")),
  );
  expect(index.drivers.map((entry) => entry.name)).toEqual(DRIVERS);
  for (const entry of index.drivers) {
    expect(entry.image).toMatchObject({
      name: `argo-artifact-drivers/${entry.name}`,
      entrypoint: ["node", "/app/main.mjs"],
      user: 8737,
      architectures: ["amd64", "arm64"],
    });
    expect(entry.argo.rpcs).toContain("SaveStream");
    expect(JSON.parse(await readFile(join(repoRoot, "index", entry.schema), "utf8"))).toEqual(
      entry.configuration,
    );
  }
});

/** A scratch repository with what the generator reads: driver packages' files, the image lock, README. */
describe("pnpm index in a scratch repository", () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "driver-index-"));
    for (const driver of DRIVERS) {
      await mkdir(join(root, "drivers", driver), { recursive: true });
      for (const file of ["package.json", "Dockerfile"]) {
        await cp(join(repoRoot, "drivers", driver, file), join(root, "drivers", driver, file));
      }
    }
    await mkdir(join(root, "docker/base"), { recursive: true });
    await cp(join(repoRoot, "docker/base/packages.lock"), join(root, "docker/base/packages.lock"));
    // The repository's formatting; not a git repository, so no VCS integration.
    const biome = JSON.parse(await readFile(join(repoRoot, "biome.json"), "utf8"));
    await writeFile(
      join(root, "biome.json"),
      JSON.stringify({ ...biome, vcs: { enabled: false } }),
    );
    await symlink(join(repoRoot, "node_modules"), join(root, "node_modules"));
    await writeFile(
      join(root, "README.md"),
      `# Drivers\n\n${TABLE_START}\n${TABLE_END}\n\nMore text.\n`,
    );
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test("writes the index, then finds it current; an edited table, schema or leftover file is stale", async () => {
    expect(await staleFiles(root)).toContain("index/drivers.json");
    const written = await writeIndex(root);
    expect(written).toEqual(
      expect.arrayContaining(["index/drivers.json", "index/schemas/s3.json", "README.md"]),
    );
    expect(await staleFiles(root)).toEqual([]);
    const readme = await readFile(join(root, "README.md"), "utf8");
    expect(readme).toContain("| [`sftp`](drivers/sftp/README.md)");
    expect(readme).toMatch(/More text\.\n$/);

    await writeFile(join(root, "README.md"), readme.replace("SFTP servers", "FTP servers"));
    await writeFile(join(root, "index/schemas/gone.json"), "{}\n");
    const schema = join(root, "index/schemas/gcs.json");
    await writeFile(schema, (await readFile(schema, "utf8")).replace('"bucket"', '"bukcet"'));
    expect((await staleFiles(root)).sort()).toEqual([
      "README.md",
      "index/schemas/gcs.json",
      "index/schemas/gone.json",
    ]);
    await writeIndex(root);
    expect(await staleFiles(root)).toEqual([]);
  });

  test("a hand-written entry in index/external/ joins the index, its schema file and the table", async () => {
    const entry = {
      name: "gitlab",
      description: "GitLab generic packages",
      version: "1.2.0",
      license: "MIT",
      source: { repository: "https://example.com/acme/argo-gitlab", path: "." },
      readme: "https://example.com/acme/argo-gitlab#readme",
      image: {
        name: "acme/argo-gitlab",
        registry: "ghcr.io",
        tags: ["1.2.0"],
        entrypoint: ["/plugin"],
        user: 8737,
        architectures: ["amd64", "arm64"],
      },
      argo: { versions: ">=4.1", rpcs: ["Load", "Save"], saveStream: false },
      secrets: { sources: ["kubernetes"] },
      configuration: {
        type: "object",
        properties: {
          project: { type: "string" },
          tokenSecret: { $ref: "#/$defs/secretKeySelector" },
        },
        required: ["project"],
        additionalProperties: false,
        $defs: { secretKeySelector: { type: "object" } },
      },
    };
    await mkdir(join(root, "index/external"), { recursive: true });
    await writeFile(join(root, "index/external/gitlab.json"), JSON.stringify(entry));
    await writeIndex(root);
    const index = indexSchema.parse(
      JSON.parse(await readFile(join(root, "index/drivers.json"), "utf8")),
    );
    expect(index.drivers.at(-1)).toMatchObject({
      name: "gitlab",
      schema: "schemas/gitlab.json",
      secrets: { sources: ["kubernetes"], fields: ["tokenSecret"] },
    });
    expect(await readFile(join(root, "README.md"), "utf8")).toContain(
      "| [`gitlab`](https://example.com/acme/argo-gitlab#readme) | GitLab generic packages",
    );

    await writeFile(
      join(root, "index/external/gitlab.json"),
      JSON.stringify({ ...entry, image: { ...entry.image, user: 0 } }),
    );
    await expect(staleFiles(root)).rejects.toThrow(
      "index/external/gitlab.json is not a valid index entry: image.user:",
    );
    await rm(join(root, "index/external"), { recursive: true });
  });
});
